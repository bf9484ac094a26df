# Sourced by cluster/local/start.sh and cluster/emulated/slurm.sh: munge, and the slurm.conf
# settings their clusters share (root runs the jobs, munge, no cgroups, a scheduler that looks
# every second, requeue allowed).

# Starts munge (Slurm's authentication) unless it runs. Needs root.
tsn_start_munge() {
  # munge: the key is created by the package; make one if it is missing.
  if ! pgrep -x munged >/dev/null; then
    if [[ ! -s /etc/munge/munge.key ]]; then
      dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
      chown munge:munge /etc/munge/munge.key 2>/dev/null || true
      chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then
      su -s /bin/sh munge -c "/usr/sbin/munged" || /usr/sbin/munged --force
    else
      /usr/sbin/munged --force
    fi
  fi
}

# The shared slurm.conf lines, on stdout.
tsn_slurm_conf_shared() {
  cat <<'CONF'
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1
ReturnToService=2
JobRequeue=1
KillWait=10
MinJobAge=600
CONF
}
