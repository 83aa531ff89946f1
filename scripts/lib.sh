# Shared by scripts/test.sh and bench/run.sh (sourced, not run).

log() { printf '\n==> %s\n' "$*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

MOTO_VERSION=5.2.1
MOTO_VENV=target/test-tools/moto-$MOTO_VERSION
# Installs moto's server (an STS-compatible server, from PyPI) into target/test-tools once.
install_moto() {
  if [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
    log "installing moto $MOTO_VERSION (STS) into $MOTO_VENV"
    mkdir -p target/test-tools
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
}

PYJWT_VERSION=2.10.1
PYJWT_VENV=target/test-tools/pyjwt-$PYJWT_VERSION
# Installs PyJWT with its crypto extra (the verifier the token exchange tests use) once. The
# venv's path is the one tests/api/token_exchange.rs looks for when not told otherwise.
install_pyjwt() {
  if ! "$PYJWT_VENV/bin/python" -c 'import jwt, cryptography' 2>/dev/null; then
    log "installing PyJWT $PYJWT_VERSION into $PYJWT_VENV"
    mkdir -p target/test-tools
    python3 -m venv "$PYJWT_VENV"
    "$PYJWT_VENV/bin/pip" install --quiet --disable-pip-version-check "pyjwt[crypto]==$PYJWT_VERSION"
  fi
}

# Starts moto on a free port; sets MOTO_PID and MOTO_URL (the caller stops it).
start_moto_server() {
  local port
  install_moto
  port=$(free_port)
  "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >target/test-tools/moto.log 2>&1 &
  MOTO_PID=$!
  if ! wait_for_port "$port"; then
    echo "moto_server did not start; see target/test-tools/moto.log" >&2
    exit 1
  fi
  MOTO_URL="http://127.0.0.1:$port"
}

PYSAML2_VERSION=7.5.5
PYSAML2_VENV=target/test-tools/pysaml2-$PYSAML2_VERSION
# Installs pysaml2 (the SAML identity provider the SAML tests start: tests/saml-idp/idp.py)
# once. The venv's path is the one the tests look for when IDBROKER_TEST_PYSAML2_PYTHON is unset.
# It signs with the xmlsec1 command (Debian's package, see ensure_xmlsec).
install_pysaml2() {
  if ! "$PYSAML2_VENV/bin/python" -c 'import saml2' 2>/dev/null; then
    log "installing pysaml2 $PYSAML2_VERSION into $PYSAML2_VENV"
    mkdir -p target/test-tools
    python3 -m venv "$PYSAML2_VENV"
    "$PYSAML2_VENV/bin/pip" install --quiet --disable-pip-version-check "pysaml2==$PYSAML2_VERSION"
  fi
}

# xmlsec (C) verifies SAML signatures (crates/idbroker-saml, through samael): building needs
# libxmlsec1-dev, pkg-config and libclang-dev (bindgen); the test IdP signs with xmlsec1.
XMLSEC_PACKAGES=(libxmlsec1-dev libxmlsec1-openssl pkg-config libclang-dev xmlsec1)
ensure_xmlsec() {
  local missing=()
  for package in "${XMLSEC_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "SAML needs the Debian packages ${missing[*]}; install them (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
}

AWS_SDK_JS_VERSION=3.972.88
AWS_SDK_JS_DIR=target/test-tools/aws-sdk-js-$AWS_SDK_JS_VERSION
# Installs the AWS SDK for JavaScript v3's HTTP credential provider (npm, pinned) into
# target/test-tools once, for the container-credentials test
# (crates/idbroker/tests/sdk_credentials.rs, which reads the folder from IDBROKER_TEST_AWS_SDK_JS).
install_aws_sdk_js() {
  if [ ! -d "$AWS_SDK_JS_DIR/node_modules/@aws-sdk/credential-provider-http" ]; then
    log "installing @aws-sdk/credential-provider-http $AWS_SDK_JS_VERSION into $AWS_SDK_JS_DIR"
    mkdir -p "$AWS_SDK_JS_DIR"
    echo '{"private": true}' >"$AWS_SDK_JS_DIR/package.json"
    npm install --prefix "$AWS_SDK_JS_DIR" --no-audit --no-fund --loglevel=error \
      "@aws-sdk/credential-provider-http@$AWS_SDK_JS_VERSION"
  fi
}

AWSCLI_VERSION=1.46.3
BOTO3_VERSION=1.44.8
AWS_CLIENTS_VENV=target/test-tools/aws-clients-$AWSCLI_VERSION
# Installs the AWS CLI (v1, PyPI's awscli) and boto3 into target/test-tools once, for the test
# of `idbroker credentials` as a credential_process (crates/idbroker/tests/credential_process.rs,
# which reads the folder from IDBROKER_TEST_AWS_TOOLS).
install_aws_clients() {
  if [ ! -x "$AWS_CLIENTS_VENV/bin/aws" ] || ! "$AWS_CLIENTS_VENV/bin/python" -c 'import boto3' 2>/dev/null; then
    log "installing awscli $AWSCLI_VERSION and boto3 $BOTO3_VERSION into $AWS_CLIENTS_VENV"
    mkdir -p target/test-tools
    python3 -m venv "$AWS_CLIENTS_VENV"
    "$AWS_CLIENTS_VENV/bin/pip" install --quiet --disable-pip-version-check \
      "awscli==$AWSCLI_VERSION" "boto3==$BOTO3_VERSION"
  fi
}
