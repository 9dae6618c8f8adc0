/**
 * The chat view's HTML: a strict Content-Security-Policy (only our own bundled script, by
 * nonce; our stylesheet; no remote anything), the script and style from dist/chat.
 */
export interface ChatHtmlParts {
  /** The webview's `cspSource` (where its local resources come from). */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function chatHtml(parts: ChatHtmlParts): string {
  const attr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(parts.cspSource, parts.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(parts.styleUri)}">
<title>StarCoder Chat</title>
</head>
<body>
<main id="starcoder-chat">
  <div id="messages" role="log" aria-live="polite"></div>
  <div id="composer">
    <div id="chips" aria-label="Attached code"></div>
    <div id="mentions" role="listbox" hidden></div>
    <textarea id="input" rows="3" placeholder="Ask about your code (Enter sends, Shift+Enter new line, @ adds an open file)" aria-label="Message"></textarea>
    <div id="actions">
      <button id="new" title="New chat" type="button">New chat</button>
      <span class="spacer"></span>
      <button id="stop" title="Stop (Esc)" type="button" hidden>Stop</button>
      <button id="send" title="Send (Enter)" type="button">Send</button>
    </div>
  </div>
</main>
<script nonce="${attr(parts.nonce)}" src="${attr(parts.scriptUri)}"></script>
</body>
</html>`;
}
