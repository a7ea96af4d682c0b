// Starts `nndsl lsp` (the language server of nndsl, over stdio) for .nn files.
// The command is the setting nndsl.server.command (default: nndsl on the PATH) with the
// arguments nndsl.server.args (default: ["lsp"]).
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("nndsl");
  const server = {
    command: config.get("server.command", "nndsl"),
    args: config.get("server.args", ["lsp"]),
  };
  client = new LanguageClient(
    "nndsl",
    "nndsl language server",
    { run: server, debug: server },
    {
      documentSelector: [
        { scheme: "file", language: "nndsl" },
        { scheme: "untitled", language: "nndsl" },
      ],
    }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
