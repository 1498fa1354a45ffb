import type { Metadata, Viewport } from 'next';
import './conduit.css';

export const metadata: Metadata = {
  title: 'Conduit',
  description: 'A place to share your knowledge.',
  icons: { icon: '/favicon.svg' },
};

export const viewport: Viewport = { width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
