// A real OpenID Provider for the tests: node-oidc-provider on 127.0.0.1 (a free port), with its
// development interactions (any login, any password) and in-memory storage.
//
// node provider.mjs '<config JSON>', where the config is
//   {"clients": [{"client_id", "client_secret", "redirect_uris": [...]}],
//    "accounts": {"<login>": {"email", "name", "groups": [...]}}}
// A login not in `accounts` gets <login>@example.com and no groups. Once listening it prints one
// JSON line, {"issuer": "http://127.0.0.1:<port>"}, and runs until it is killed.

import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? '{}');
const accounts = config.accounts ?? {};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: (config.clients ?? []).map((client) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...client,
    })),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    cookies: { keys: ['test-only-cookie-signing-key'] },
    pkce: { required: () => true },
    async findAccount(ctx, id) {
      const known = accounts[id] ?? {};
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: known.email ?? `${id}@example.com`,
            email_verified: true,
            name: known.name ?? id,
            groups: known.groups ?? [],
          };
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
