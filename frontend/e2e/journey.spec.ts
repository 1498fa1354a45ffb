// A user's journey through the UI, with the checks a security review asks
// for at every step: no token where a script could read it, no CSP
// violation, no console error, markdown shown safely.
import { type BrowserContext, type Page, expect, test } from '@playwright/test';

const PASSWORD = 'correct horse battery staple';

function uniqueUser(prefix: string) {
  const id = `${Date.now()}${Math.floor(Math.random() * 1000)}`;
  return { username: `${prefix}${id}`, email: `${prefix}${id}@example.com`, password: PASSWORD };
}

/** Fails the test on any console error, page error, CSP violation or dialog. */
function watch(page: Page) {
  const problems: string[] = [];
  page.on('console', message => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', error => problems.push(`page error: ${error.message}`));
  page.on('dialog', dialog => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  // Reported by the browser itself, whatever the page's code does.
  void page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', event => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  return problems;
}

async function signUp(page: Page, user: ReturnType<typeof uniqueUser>): Promise<string> {
  await page.goto('/register');
  await page.fill('input[name="username"]', user.username);
  await page.fill('input[name="email"]', user.email);
  await page.fill('input[name="password"]', user.password);
  const [response] = await Promise.all([
    page.waitForResponse(r => r.url().endsWith('/api/users') && r.request().method() === 'POST'),
    page.click('button[type="submit"]'),
  ]);
  expect(response.status()).toBe(201);
  const token = ((await response.json()) as { user: { token: string } }).user.token;
  await expect(page).toHaveURL('/');
  await expect(page.locator(`nav a[href="/profile/${user.username}"]`)).toBeVisible();
  return token;
}

/** The access token is nowhere a script (or a saved page) could read it. */
async function expectTokenOutOfReach(page: Page, context: BrowserContext, token: string) {
  const exposed = await page.evaluate(secret => {
    const places: string[] = [];
    const storages: [string, Storage][] = [
      ['localStorage', window.localStorage],
      ['sessionStorage', window.sessionStorage],
    ];
    for (const [name, storage] of storages) {
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i) ?? '';
        if (`${key}${storage.getItem(key)}`.includes('eyJ') || storage.getItem(key) === secret) places.push(name);
      }
    }
    if (document.cookie.includes(secret) || document.cookie.includes('eyJ')) places.push('document.cookie');
    if (document.documentElement.outerHTML.includes(secret)) places.push('the page HTML');
    const debug = (window as unknown as { __conduit_debug__?: { getToken(): string | null } }).__conduit_debug__;
    if (debug?.getToken() !== null) places.push('__conduit_debug__.getToken()');
    return places;
  }, token);
  expect(exposed).toEqual([]);
  // The one credential the browser keeps is the refresh cookie, which no script sees.
  for (const cookie of await context.cookies()) {
    expect(cookie.httpOnly, `${cookie.name} is HttpOnly`).toBe(true);
    expect(cookie.value).not.toContain(token);
  }
}

test('sign up, write, reload, comment, favorite, follow, two tabs, log out', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = watch(page);

  // Another author, in a browser of their own.
  const author = uniqueUser('author');
  const other = await browser.newContext();
  const authorPage = await other.newPage();
  const authorProblems = watch(authorPage);
  await signUp(authorPage, author);
  await authorPage.goto('/editor');
  await authorPage.fill('input[name="title"]', `Followed ${author.username}`);
  await authorPage.fill('input[name="description"]', 'from someone to follow');
  await authorPage.fill('textarea[name="body"]', 'Plain body.');
  await Promise.all([authorPage.waitForURL(/\/article\//), authorPage.click('button:has-text("Publish Article")')]);
  const authorArticle = authorPage.url();
  await other.close();

  const user = uniqueUser('reader');
  const token = await signUp(page, user);
  await expectTokenOutOfReach(page, context, token);

  // An article whose markdown holds code (with markup and shell that must
  // stay text) and quotes, published through the WAF in block mode.
  const title = `Markdown ${Date.now()}`;
  const script = "<script>alert('xss')</script>";
  const body = [
    '## Setting "it" up',
    '',
    "It's the user's own article: SQL's `SELECT` and O'Reilly's quotes are fine.",
    '',
    '```html',
    script,
    "<b>bold?</b> && cat /etc/passwd",
    '```',
    '',
    '> "Quoted" wisdom',
  ].join('\n');
  await page.goto('/editor');
  await page.fill('input[name="title"]', title);
  await page.fill('input[name="description"]', "What's it about: SQL's SELECT * FROM users");
  await page.fill('textarea[name="body"]', body);
  await page.fill('input[placeholder="Enter tags"]', 'markdown');
  await page.press('input[placeholder="Enter tags"]', 'Enter');
  await Promise.all([page.waitForURL(/\/article\//), page.click('button:has-text("Publish Article")')]);
  const content = page.locator('.article-content');
  await expect(page.locator('h1')).toHaveText(title);
  await expect(content.locator('h2')).toHaveText('Setting "it" up');
  await expect(content.locator('pre code')).toHaveText(`${script}\n<b>bold?</b> && cat /etc/passwd`);
  await expect(content.locator('blockquote')).toContainText('"Quoted" wisdom');
  await expect(content.locator('p').first()).toHaveText(
    "It's the user's own article: SQL's SELECT and O'Reilly's quotes are fine.",
  );
  expect(await content.locator('script, b').count()).toBe(0);
  await page.screenshot({ path: 'screenshots/article-1280.png', fullPage: true });

  // A reload keeps the session (the refresh cookie), still with no token in reach.
  await page.reload();
  await expect(page.locator(`nav a[href="/profile/${user.username}"]`)).toBeVisible();
  await expect(page.locator('h1')).toHaveText(title);
  await expectTokenOutOfReach(page, context, token);

  // Comment.
  await page.fill('textarea[placeholder="Write a comment..."]', 'First! "quoted" <i>not italic</i>');
  await page.click('button:has-text("Post Comment")');
  await expect(page.locator('.card:not(.comment-form) .card-block')).toHaveText('First! "quoted" <i>not italic</i>');

  // Favorite and follow the other author; their article reaches "Your Feed".
  await page.goto(authorArticle);
  await page.click('button.btn-outline-primary:has-text("Favorite")');
  await expect(page.locator('button.btn-primary:has-text("Unfavorite")').first()).toBeVisible();
  await page.locator(`button:has-text("Follow ${author.username}")`).first().click();
  await expect(page.locator(`button:has-text("Unfollow ${author.username}")`).first()).toBeVisible();
  await page.goto('/?feed=following');
  await expect(page.locator(`.article-preview h1:has-text("Followed ${author.username}")`)).toBeVisible();
  await page.goto(`/profile/${user.username}/favorites`);
  await expect(page.locator('.article-preview h1')).toHaveText(`Followed ${author.username}`);

  // A second tab shares the session, and hears of the logout without a reload.
  const second = await context.newPage();
  const secondProblems = watch(second);
  await second.goto('/');
  await expect(second.locator(`nav a[href="/profile/${user.username}"]`)).toBeVisible();
  await page.goto('/settings');
  await Promise.all([page.waitForURL('/'), page.click('button:has-text("Or click here to logout")')]);
  await expect(page.locator('nav a[href="/login"]')).toBeVisible();
  await expect(second.locator('nav a[href="/login"]')).toBeVisible();
  await expect(second.locator(`nav a[href="/profile/${user.username}"]`)).toHaveCount(0);

  // Signed out for good: protected pages send to login, a reload does not sign back in.
  for (const path of ['/settings', '/editor', '/?feed=following']) {
    await page.goto(path);
    await expect(page).toHaveURL('/login');
  }
  await second.reload();
  await expect(second.locator('nav a[href="/login"]')).toBeVisible();
  // The server ended the session too: the old access token is refused.
  const api = await page.request.get('/api/user', { headers: { Authorization: `Token ${token}` } });
  expect(api.status()).toBe(401);

  expect([...problems, ...authorProblems, ...secondProblems]).toEqual([]);
  await context.close();
});

test('screenshots of home, article and editor at 1280 and 375 px, no sideways scrolling', async ({ browser }) => {
  for (const width of [1280, 375]) {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const page = await context.newPage();
    const problems = watch(page);
    await signUp(page, uniqueUser(`w${width}x`));
    await page.goto('/editor');
    await page.fill('input[name="title"]', `A rather long title that has to wrap on a phone ${width}`);
    await page.fill('input[name="description"]', 'Screens of every size');
    await page.fill('textarea[name="body"]', '# Heading\n\nA paragraph.\n\n```\nconst averyveryverylongidentifier = 1;\n```');
    await page.fill('input[placeholder="Enter tags"]', 'layout');
    await page.press('input[placeholder="Enter tags"]', 'Enter');
    await page.screenshot({ path: `screenshots/editor-${width}.png`, fullPage: true });
    await Promise.all([page.waitForURL(/\/article\//), page.click('button:has-text("Publish Article")')]);
    await expect(page.locator('.article-content h1')).toHaveText('Heading');
    await page.screenshot({ path: `screenshots/article-${width}.png`, fullPage: true });
    await page.goto('/');
    await expect(page.locator('.article-preview').first()).toBeVisible();
    await page.screenshot({ path: `screenshots/home-${width}.png`, fullPage: true });
    for (const path of ['/', '/editor', '/settings', '/login']) {
      await page.goto(path);
      await page.waitForLoadState('networkidle');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
    }
    expect(problems).toEqual([]);
    await context.close();
  }
});

test('a failed request shows a message and a way to retry, never a blank page', async ({ page }) => {
  await page.route('**/api/articles?*', route => route.fulfill({ status: 503, body: '' }));
  await page.goto('/');
  await expect(page.locator('.error-messages')).toContainText('The server had a problem');
  await page.unroute('**/api/articles?*');
  await page.click('button:has-text("Try again")');
  await expect(page.locator('.error-messages')).toHaveCount(0);
  await page.goto('/article/no-such-article-here');
  await expect(page.locator('.error-messages')).toContainText('does not exist');
  await page.goto('/no/such/page');
  await expect(page.locator('h1')).toHaveText('Page not found');
});
