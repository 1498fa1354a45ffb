-- wrk: POST /api/users/login with the bench user's credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"user":{"email":"flood@bench.example","password":"bench passphrase 42"}}'
