// Article bodies are markdown written by anyone. Two layers keep them inert:
// raw HTML in the markdown is shown as text (escaped, never parsed), and what
// marked produces goes through DOMPurify, which drops script-capable markup
// and `javascript:`-style URLs that markdown links or images could carry.
// The gateway's CSP (no inline scripts) is the third.

import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => ESCAPES[c]);
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    html: ({ text }) => escapeHtml(text),
  },
});

let hooked = false;

/** Safe HTML for an article body. Browser only (DOMPurify needs a DOM). */
export function renderMarkdown(source: string): string {
  if (!hooked) {
    // Links leave the app without handing it a window.opener or a referrer.
    DOMPurify.addHook('afterSanitizeAttributes', node => {
      if (node.tagName === 'A' && node.getAttribute('href')) {
        node.setAttribute('rel', 'noopener noreferrer nofollow');
      }
    });
    hooked = true;
  }
  const html = marked.parse(source) as string;
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input'] });
}
