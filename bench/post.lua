-- wrk script: POST one AWS JSON 1.1 call (target and body from the environment).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = "AWSCognitoIdentityService." .. os.getenv("BENCH_TARGET")
