import type { NextConfig } from 'next';

// A static export: plain files the gateway serves (gateway.static_dir). The
// app routes on the client; the gateway answers every page path with
// index.html, so a deep link or a reload lands in the app.
const config: NextConfig = {
  output: 'export',
  reactStrictMode: true,
  poweredByHeader: false,
  productionBrowserSourceMaps: false,
  images: { unoptimized: true },
};

export default config;
