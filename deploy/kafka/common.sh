# Shared by start.sh and init.sh (sourced, not run): checks on the passwords the environment gives,
# and the admin's client settings. Nothing here prints a password.

fail() {
  echo "error: $*" >&2
  exit 1
}

# require_password NAME: the variable NAME holds a password of 16 or more of A-Z a-z 0-9 _ -
# (the characters SCRAM and JAAS settings carry unquoted and unescaped).
require_password() {
  local name=$1
  local value=${!name-}
  [ -n "$value" ] || fail "set $name in .env (a long random value: openssl rand -hex 32)"
  [[ $value =~ ^[A-Za-z0-9_-]{16,}$ ]] \
    || fail "$name must be 16 or more of A-Z a-z 0-9 _ - (a long random value: openssl rand -hex 32)"
}

scram_login() {
  printf 'org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";' "$1" "$2"
}

# admin_client_config FILE: the settings kafka-*.sh need to connect as hocba-admin.
admin_client_config() {
  (
    umask 077
    {
      echo "security.protocol=SASL_PLAINTEXT"
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.jaas.config=$(scram_login hocba-admin "$KAFKA_ADMIN_PASSWORD")"
    } > "$1"
  )
}
