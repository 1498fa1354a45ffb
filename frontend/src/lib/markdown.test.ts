import { describe, expect, it } from 'vitest';
import { renderMarkdown } from './markdown';

function dom(html: string) {
  const div = document.createElement('div');
  div.innerHTML = html;
  return div;
}

describe('renderMarkdown', () => {
  it('renders markdown: headings, emphasis, code blocks, quotes, links', () => {
    const root = dom(renderMarkdown('## Title\n\n*it* and `code`\n\n```js\nconst a = "<b>";\n```\n\n> quote\n\n[x](https://example.com)'));
    expect(root.querySelector('h2')?.textContent).toBe('Title');
    expect(root.querySelector('em')?.textContent).toBe('it');
    expect(root.querySelector('pre code')?.textContent).toBe('const a = "<b>";\n');
    expect(root.querySelector('blockquote')?.textContent?.trim()).toBe('quote');
    const link = root.querySelector('a');
    expect(link?.getAttribute('href')).toBe('https://example.com');
    expect(link?.getAttribute('rel')).toContain('noopener');
  });

  it('shows raw HTML as text instead of parsing it', () => {
    for (const payload of [
      '<script>alert(1)</script>',
      '<img src=x onerror="alert(1)">',
      '<svg onload="alert(1)">',
      '<iframe srcdoc="<script>alert(1)</script>">',
      '<div onmouseover="alert(1)">hover me</div>',
      '<a href="javascript:alert(1)">click me</a>',
    ]) {
      const root = dom(renderMarkdown(`Before payload: ${payload} After payload`));
      expect(root.textContent).toContain(payload);
      expect(root.querySelectorAll('script, img, svg, iframe, div, a').length).toBe(0);
    }
  });

  it('drops script URLs that markdown syntax itself can carry', () => {
    const root = dom(
      renderMarkdown('[click](javascript:alert(1)) ![img](javascript:alert(2)) [data](data:text/html,<script>x</script>)'),
    );
    for (const element of root.querySelectorAll('a, img')) {
      const url = element.getAttribute('href') ?? element.getAttribute('src') ?? '';
      expect(url).not.toMatch(/^(javascript|data):/i);
    }
  });
});
