#!/usr/bin/env bash
# The broker's entrypoint in docker-compose. It writes the broker's configuration (server.properties
# plus the listeners' SASL login settings, which hold the admin's password, and the advertised
# listeners), formats the storage on first start with the admin's SCRAM credential (KRaft keeps
# credentials in its metadata log, so the admin must exist before the broker does) and starts Kafka.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=common.sh
. "$here/common.sh"
bin=${KAFKA_BIN:-/opt/kafka/bin}
conf=${HOCBA_KAFKA_CONF_DIR:-/tmp/hocba-kafka}

require_password KAFKA_ADMIN_PASSWORD
[ -n "${HOCBA_KAFKA_PUBLIC_HOST-}" ] \
  || fail "set HOCBA_KAFKA_PUBLIC_HOST in .env: the host name school systems reach Kafka at (its certificate's name)"
[[ ${KAFKA_CLUSTER_ID-} =~ ^[A-Za-z0-9_-]{22}$ ]] \
  || fail "KAFKA_CLUSTER_ID must be 22 characters (kafka-storage.sh random-uuid prints one)"
[ -r /etc/kafka/tls/server.pem ] \
  || fail "put the external listener's private key (PKCS#8) and certificate chain, PEM, in deploy/kafka/tls/server.pem"

mkdir -p "$conf"
chmod 700 "$conf"
(
  umask 077
  {
    cat "$here/server.properties"
    echo "advertised.listeners=INTERNAL://kafka:9092,EXTERNAL://${HOCBA_KAFKA_PUBLIC_HOST}:9094"
    echo "listener.name.internal.scram-sha-512.sasl.jaas.config=$(scram_login hocba-admin "$KAFKA_ADMIN_PASSWORD")"
    echo "listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    printf 'listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="hocba-admin" password="%s" user_hocba-admin="%s";\n' \
      "$KAFKA_ADMIN_PASSWORD" "$KAFKA_ADMIN_PASSWORD"
  } > "$conf/server.properties"
)
admin_client_config "$conf/admin.properties"

"$bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" \
  --config "$conf/server.properties" \
  --add-scram "SCRAM-SHA-512=[name=hocba-admin,password=$KAFKA_ADMIN_PASSWORD]"
exec "$bin/kafka-server-start.sh" "$conf/server.properties"
