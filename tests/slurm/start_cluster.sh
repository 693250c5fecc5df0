#!/usr/bin/env bash
# A single-node Slurm on 127.0.0.1 for tests/test_study_slurm.py (and by hand): its own munged,
# slurmctld and slurmd, every file under DIR, so it touches no system Slurm or munge.
#   tests/slurm/start_cluster.sh DIR [CTLD_PORT SLURMD_PORT]    then: export SLURM_CONF=DIR/slurm.conf
#   tests/slurm/stop_cluster.sh DIR
# Settings that work in a container without systemd or cgroup delegation: linuxproc process
# tracking, no task plugin, no accounting; cons_tres counting CPUs alone. Waits for nothing:
# the caller polls `sinfo` until the node is idle.
set -euo pipefail
dir="$(mkdir -p "$1" && cd "$1" && pwd)"
ctld_port="${2:-6817}"
slurmd_port="${3:-6818}"
host="$(hostname -s)"
cpus="$(nproc)"
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"

# munge: a key of our own (mungekey in munge >= 0.5.14, create-munge-key before), a socket in DIR
key="$dir/munge/munge.key"
if [ ! -f "$key" ]; then
    if command -v mungekey >/dev/null || [ -x /usr/sbin/mungekey ]; then
        PATH="$PATH:/usr/sbin" mungekey --create --keyfile "$key" --force
    else
        PATH="$PATH:/usr/sbin" create-munge-key -f "$key" </dev/null
    fi
    chmod 600 "$key"
fi
PATH="$PATH:/usr/sbin" munged --force --key-file "$key" --socket "$dir/munge/munge.socket" \
    --pid-file "$dir/munge/munged.pid" --log-file "$dir/munge/munged.log" --seed-file "$dir/munge/munged.seed"

cat >"$dir/slurm.conf" <<CONF
ClusterName=mtlib-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
cat >"$dir/cgroup.conf" <<CONF
CgroupPlugin=autodetect
IgnoreSystemd=yes
CONF

export SLURM_CONF="$dir/slurm.conf"
/usr/sbin/slurmctld -f "$SLURM_CONF" -c
/usr/sbin/slurmd -f "$SLURM_CONF"
