/**
 * The model's Markdown, made safe to show: markdown-it (raw HTML in the answer is shown as
 * text, never parsed), highlight.js for code, then DOMPurify over the result. Images are
 * shown as their alt text: an answer never makes the view load anything.
 */
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/common';
import MarkdownIt from 'markdown-it';

interface RenderEnv {
  blocks?: string[];
  [key: string]: unknown;
}

const MAX_AUTO_HIGHLIGHT = 4000;

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function highlight(code: string, lang: string): string {
  try {
    if (lang && hljs.getLanguage(lang)) return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
    if (code.length <= MAX_AUTO_HIGHLIGHT) return hljs.highlightAuto(code).value;
  } catch {
    // fall through: plain text
  }
  return escapeHtml(code);
}

const md = new MarkdownIt({ html: false, linkify: true, typographer: false });

md.renderer.rules.fence = (tokens, idx, _options, env?: RenderEnv) => {
  const token = tokens[idx];
  const lang = token.info.trim().split(/\s+/)[0] ?? '';
  const blocks = (env?.blocks ?? []) as string[];
  const index = blocks.push(token.content) - 1;
  const cls = lang ? ` language-${escapeHtml(lang)}` : '';
  return `<div class="code-block" data-block="${index}"><pre><code class="hljs${cls}">${highlight(token.content, lang)}</code></pre></div>\n`;
};

md.renderer.rules.image = (tokens, idx) => {
  const token = tokens[idx];
  const alt = token.content || String(token.attrGet('src') ?? 'image');
  return `<span class="image-ref" title="images are not loaded">[image: ${escapeHtml(alt)}]</span>`;
};

const PURIFY = {
  FORBID_TAGS: ['style', 'img', 'svg', 'math', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'video', 'audio', 'source', 'link', 'meta', 'base'],
  FORBID_ATTR: ['style', 'srcset', 'formaction'],
  ALLOW_DATA_ATTR: true,
};

export interface Rendered {
  html: string;
  /** The code of each fenced block, in order (`data-block` indexes it). */
  blocks: string[];
}

/** Safe HTML for `markdown` (an answer from the model: untrusted). */
export function renderMarkdown(markdown: string): Rendered {
  const blocks: string[] = [];
  const html = md.render(markdown, { blocks } satisfies RenderEnv);
  return { html: DOMPurify.sanitize(html, PURIFY) as string, blocks };
}
