#!/usr/bin/env bash
# rotate-at-deploy.sh: the deploy pipeline's step that rotates a read-only
# workload's entropy (a CI job's, a serverless function's) at each deploy.
#
#   rotate-at-deploy.sh ROLE CLIENT_ID -- STORE_COMMAND [ARGS...]
#   rotate-at-deploy.sh ROLE CLIENT_ID            # the state on stdout
#
# It issues the client's next generation out of band
# (auth/<mount>/role/ROLE/client/CLIENT_ID/issue), response-wrapped, redeems
# the wrapping token with `vault-entropy bootstrap -wrap-token=- -encode`
# (which checks that the token was made by that endpoint for that client),
# and hands the resulting VAULT_ENTROPY_STATE value (one line, "ves1....")
# to STORE_COMMAND on its stdin, only once all of that has succeeded, so a
# failed step never overwrites the stored state with nothing. For example:
#
#   rotate-at-deploy.sh ci deploy-web -- gh secret set VAULT_ENTROPY_STATE
#   rotate-at-deploy.sh fn billing -- \
#     aws secretsmanager put-secret-value --secret-id billing/vault-state --secret-string file:///dev/stdin
#
# Then ship the deployment that reads the new value. Copies of the previous
# deployment keep logging in with the previous generation for the role's
# generation_overlap after the new deployment first logs in; after it, such
# a login is a clone. See docs/ci-and-serverless.md.
#
# Needs: vault and vault-entropy on PATH; VAULT_ADDR; a token (VAULT_TOKEN)
# whose policy allows update on auth/<mount>/role/ROLE/client/CLIENT_ID/issue.
# ENTROPY_MOUNT is the mount's path (default auth/entropy), WRAP_TTL the
# wrapping token's lifetime (default 2m).
#
# The state is the workload's secret: it passes through this shell's memory
# and pipes only, never a file or a log (set -x is refused).
set -euo pipefail

usage() {
	echo "usage: $0 ROLE CLIENT_ID [-- STORE_COMMAND [ARGS...]]" >&2
	exit 2
}
[ $# -ge 2 ] || usage
role=$1 client_id=$2
shift 2
if [ $# -gt 0 ]; then
	if [ "$1" != "--" ] || [ $# -lt 2 ]; then usage; fi
	shift
fi
case $- in *x*) echo "$0: refusing to run under set -x: it would trace the state" >&2; exit 2 ;; esac
: "${VAULT_ADDR:?set VAULT_ADDR}"
mount=${ENTROPY_MOUNT:-auth/entropy}
mount=${mount%/}

# The wrapping token only: the entropy stays inside Vault's cubbyhole until
# vault-entropy redeems it.
token=$(vault write -wrap-ttl="${WRAP_TTL:-2m}" -field=wrapping_token -f \
	"$mount/role/$role/client/$client_id/issue") || {
	echo "$0: Vault refused to issue the next generation of $role/$client_id (see above); the stored state is unchanged" >&2
	exit 1
}
state=$(printf '%s\n' "$token" | vault-entropy bootstrap -wrap-token=- -encode) || {
	echo "$0: could not redeem the wrapping token (see above); the stored state is unchanged" >&2
	exit 1
}
case $state in
ves1.*) ;;
*)
	echo "$0: vault-entropy printed something other than an encoded state; the stored state is unchanged" >&2
	exit 1
	;;
esac

if [ $# -eq 0 ]; then
	printf '%s\n' "$state"
else
	printf '%s' "$state" | "$@"
fi
echo "$0: issued the next generation of $role/$client_id; deploy the workload that reads it" >&2
