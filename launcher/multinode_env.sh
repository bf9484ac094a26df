# Sourced: exports every setting of launcher/multinode.mca as OMPI_MCA_<name>, unless the
# environment already sets that variable (a user's choice wins). Prints nothing.
tsn_multinode_env() {
  local file line value var
  file="$(dirname "${BASH_SOURCE[0]}")/multinode.mca"
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*([a-z0-9_]+)[[:space:]]*=[[:space:]]*([^[:space:]]+)[[:space:]]*$ ]] ||
      continue
    value=${BASH_REMATCH[2]} var=OMPI_MCA_${BASH_REMATCH[1]}
    [[ -z ${!var:-} ]] && export "$var=$value"
  done <"$file"
  return 0
}
tsn_multinode_env
