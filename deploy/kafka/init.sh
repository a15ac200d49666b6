#!/usr/bin/env bash
# One-shot job of docker-compose (`kafka-acls`), run as hocba-admin before the services start:
# - a SCRAM-SHA-512 user for each Hocba service (hocba-<service>, password KAFKA_<SERVICE>_PASSWORD)
#   and for each school system (its OIDC client id, password in KAFKA_SCHOOL_SYSTEM_PASSWORDS);
# - the ACLs of deploy/kafka/acls.txt (generated from the topic registry), the school-system lines
#   once for each school system;
# - a user that is neither (a school system taken out of .env) loses its credential and its ACLs.
# Safe to run again: passwords are set to the values in .env, ACLs that exist stay.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=common.sh
. "$here/common.sh"
bin=${KAFKA_BIN:-/opt/kafka/bin}
bootstrap=${KAFKA_BOOTSTRAP:-kafka:9092}
acls="$here/acls.txt"
school_system_principal="User:{school-system}"

require_password KAFKA_ADMIN_PASSWORD
[ -n "${HOCBA_SCHOOL_SYSTEMS-}" ] || fail "set HOCBA_SCHOOL_SYSTEMS in .env (see deploy/README.md)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
admin="$work/admin.properties"
admin_client_config "$admin"
connect=(--bootstrap-server "$bootstrap" --command-config "$admin")

declare -A passwords=()
while read -r principal _; do
  [[ $principal == User:hocba-* ]] || continue
  user=${principal#User:}
  variable="KAFKA_$(tr 'a-z-' 'A-Z_' <<<"${user#hocba-}")_PASSWORD"
  require_password "$variable"
  passwords[$user]=${!variable}
done < <(grep -v '^#' "$acls")

registered=$({ grep -oE '"[^"]+"[[:space:]]*:' <<<"$HOCBA_SCHOOL_SYSTEMS" || true; } | sed -E 's/^"([^"]+)".*/\1/' | sort -u)
school_systems=()
IFS=',' read -ra pairs <<<"${KAFKA_SCHOOL_SYSTEM_PASSWORDS-}"
for pair in "${pairs[@]}"; do
  pair=$(tr -d '[:space:]' <<<"$pair")
  [ -n "$pair" ] || continue
  id=${pair%%=*}
  password=${pair#*=}
  [[ $pair == *=* && $id =~ ^[A-Za-z0-9._-]+$ ]] \
    || fail "KAFKA_SCHOOL_SYSTEM_PASSWORDS: write each school system as <client-id>=<password>, separated by commas"
  [[ $id != hocba-* ]] || fail "KAFKA_SCHOOL_SYSTEM_PASSWORDS: $id: ids starting with hocba- are the services'"
  [[ $password =~ ^[A-Za-z0-9_-]{16,}$ ]] \
    || fail "KAFKA_SCHOOL_SYSTEM_PASSWORDS: the password of $id must be 16 or more of A-Z a-z 0-9 _ -"
  passwords[$id]=$password
  school_systems+=("$id")
done
given=$(printf '%s\n' "${school_systems[@]}" | sed '/^$/d' | sort -u)
[ "$given" = "$registered" ] || fail "KAFKA_SCHOOL_SYSTEM_PASSWORDS must give a password to exactly the school systems of \
HOCBA_SCHOOL_SYSTEMS; registered: [$(paste -sd" " <<<"$registered")], with a password: [$(paste -sd" " <<<"$given")]"

for user in "${!passwords[@]}"; do
  "$bin/kafka-configs.sh" "${connect[@]}" --alter --entity-type users --entity-name "$user" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${passwords[$user]}]" > /dev/null
  echo "SCRAM user $user: password set"
done

pascal() {
  local word=${1,,}
  echo "${word^}"
}

# acl_args OPERATIONS RESOURCE NAMES: kafka-acls.sh's flags for one line of acls.txt.
acl_args() {
  local op name
  local -a ops names
  IFS=',' read -ra ops <<<"$1"
  IFS=',' read -ra names <<<"$3"
  for op in "${ops[@]}"; do printf '%s\n' --operation "$(pascal "$op")"; done
  for name in "${names[@]}"; do printf '%s\n' "--$2" "$name"; done
}

while read -r principal operations resource pattern names; do
  [[ -z $principal || $principal == \#* ]] && continue
  if [ "$principal" = "$school_system_principal" ]; then
    principals=()
    for id in "${school_systems[@]}"; do principals+=(--allow-principal "User:$id"); done
    [ ${#principals[@]} -gt 0 ] || continue
  else
    principals=(--allow-principal "$principal")
  fi
  mapfile -t flags < <(acl_args "$operations" "$resource" "$names")
  "$bin/kafka-acls.sh" "${connect[@]}" --add --resource-pattern-type "$pattern" "${principals[@]}" "${flags[@]}" \
    > /dev/null
  echo "ACL: $principal $operations $resource $pattern $names"
done < "$acls"

while read -r user; do
  [ -n "$user" ] || continue
  if [ "$user" = hocba-admin ] || [ -n "${passwords[$user]+set}" ]; then continue; fi
  "$bin/kafka-configs.sh" "${connect[@]}" --alter --entity-type users --entity-name "$user" \
    --delete-config SCRAM-SHA-512 > /dev/null
  while read -r principal operations resource pattern names; do
    [ "$principal" = "$school_system_principal" ] || continue
    mapfile -t flags < <(acl_args "$operations" "$resource" "$names")
    "$bin/kafka-acls.sh" "${connect[@]}" --remove --force --resource-pattern-type "$pattern" \
      --allow-principal "User:$user" "${flags[@]}" > /dev/null
  done < <(grep -v '^#' "$acls")
  echo "SCRAM user $user: not in .env any more, credential and ingest ACLs removed"
done < <("$bin/kafka-configs.sh" "${connect[@]}" --describe --entity-type users \
           | sed -nE "s/^SCRAM credential configs for user-principal '([^']+)' are .*/\1/p")
echo "Kafka users and ACLs are in place"
