#!/usr/bin/env bash
# Provisioning of every replica VM (vagrant/Vagrantfile, machines primary and standby). Idempotent: a
# second run changes nothing and says so. Written for Ubuntu LTS; it runs on Debian too, which is how
# the tests run it for real, twice, in a debootstrap root file system (scripts/replica/test). Steps
# that need a booted system, a Docker engine or the internet are guarded and say why they were skipped.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: vagrant/provision/common.sh [--help]     (as root, on the VM; Vagrant runs it)

  1. base packages; time synchronisation (chrony; VECHE_NTP_SERVERS, default the distribution's pool)
  2. the user ubuntu with the password VECHE_UBUNTU_PASSWORD (default "ubuntu": a replica-only
     default, never for a machine others can reach; change it with the variable), in the sudo group
  3. SSH (password and key logins for ubuntu) and an SFTP-only account VECHE_SFTP_USER (default
     sftp) whose root is /home/ubuntu/sftp (chrooted through a bind mount at /srv/veche-sftp,
     since OpenSSH needs a root-owned path); its password is the ubuntu one unless VECHE_SFTP_PASSWORD
  4. a bare XFCE: started only by `startxfce4` (no display manager, boots to the text console)
  5. nvm and the current Node.js LTS for ubuntu (`nvm install --lts`)
  6. Docker (the distribution's docker.io, with docker-buildx), ubuntu in the docker group
Environment: VECHE_UBUNTU_PASSWORD, VECHE_SFTP_USER, VECHE_SFTP_PASSWORD, VECHE_NTP_SERVERS,
  VECHE_NVM_VERSION (default v0.40.3), VECHE_PROVISION_OFFLINE=1 (skip what needs the internet
  beyond the distribution's mirror: nvm and Node), VECHE_ROOT (operate on another root, for tests).
USAGE
}
case "${1:-}" in -h | --help) usage; exit 0 ;; '') ;; *) usage >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
skip() { printf '    skipped: %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
password=${VECHE_UBUNTU_PASSWORD:-ubuntu}
sftp_user=${VECHE_SFTP_USER:-sftp}
sftp_password=${VECHE_SFTP_PASSWORD:-$password}
nvm_version=${VECHE_NVM_VERSION:-v0.40.3}
# A booted system runs systemd; a chroot (the tests) or a container does not: no services to start.
booted=0
[ -d /run/systemd/system ] && booted=1
# shellcheck source=/dev/null
. /etc/os-release
changed=0

# Installs the packages not installed yet; says which.
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  if [ ! -f /var/lib/veche/apt-updated ] || [ -n "$(find /var/lib/veche/apt-updated -mmin +60)" ]; then
    apt-get update -qq
    mkdir -p /var/lib/veche && touch /var/lib/veche/apt-updated
  fi
  say "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  changed=1
}

# Writes FILE with the content on stdin only when it differs; returns 0 when it changed.
put_file() {
  local file=$1 mode=${2:-0644} tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; return 1; fi
  mkdir -p "$(dirname "$file")"
  install -m "$mode" "$tmp" "$file"
  rm -f "$tmp"
  say "wrote $file"
  changed=1
  return 0
}

step "base packages ($PRETTY_NAME)"
# No distribution Node.js: nvm's (below) serves ubuntu and the deployment scripts alike.
need_packages ca-certificates curl git rsync jq openssl sudo gnupg lsb-release iproute2 procps \
  bash-completion less vim-tiny

step "time synchronisation"
need_packages chrony
if [ -n "${VECHE_NTP_SERVERS:-}" ]; then
  {
    echo "# Written by vagrant/provision/common.sh (VECHE_NTP_SERVERS)."
    for server in $VECHE_NTP_SERVERS; do echo "server $server iburst"; done
  } | put_file /etc/chrony/conf.d/veche.conf || true
fi
if [ "$booted" = 1 ]; then
  systemctl enable --now chrony >/dev/null 2>&1 || systemctl enable --now chronyd >/dev/null
  timedatectl set-ntp true 2>/dev/null || true
  say "chrony: $(chronyc -n tracking 2>/dev/null | awk -F': ' '/Reference ID/ {print $2}' || echo starting)"
else
  skip "starting chrony (no systemd: not a booted system)"
fi

step "the user ubuntu"
if id ubuntu >/dev/null 2>&1; then
  say "exists"
else
  useradd --create-home --shell /bin/bash ubuntu
  changed=1
  say "created"
fi
usermod -aG sudo ubuntu
# Only when the password differs: chpasswd would otherwise write a new hash (a change) on each run.
# SHA-512 hashes, so the comparison below can recompute one (openssl has no yescrypt).
current=$(getent shadow ubuntu | cut -d: -f2)
if [ -z "$current" ] || [ "$(printf '%s' "$password" | openssl passwd -6 -salt "$(printf '%s' "$current" | cut -d'$' -f3)" -stdin 2>/dev/null)" != "$current" ]; then
  printf 'ubuntu:%s\n' "$password" | chpasswd --crypt-method SHA512
  changed=1
  say "password set (VECHE_UBUNTU_PASSWORD; \"ubuntu\" is a replica-only default)"
fi
put_file /etc/sudoers.d/90-veche-ubuntu 0440 <<<'ubuntu ALL=(ALL) NOPASSWD:ALL' || true

step "SSH and the SFTP account $sftp_user (root: /home/ubuntu/sftp)"
need_packages openssh-server openssh-sftp-server
getent group veche-sftp >/dev/null || { groupadd --system veche-sftp; changed=1; }
if ! id "$sftp_user" >/dev/null 2>&1; then
  useradd --no-create-home --home-dir / --shell /usr/sbin/nologin --gid veche-sftp "$sftp_user"
  changed=1
fi
current=$(getent shadow "$sftp_user" | cut -d: -f2)
if [ -z "$current" ] || [ "$(printf '%s' "$sftp_password" | openssl passwd -6 -salt "$(printf '%s' "$current" | cut -d'$' -f3)" -stdin 2>/dev/null)" != "$current" ]; then
  printf '%s:%s\n' "$sftp_user" "$sftp_password" | chpasswd --crypt-method SHA512
  changed=1
fi
# OpenSSH chroots only into a path whose every component is root's; /home/ubuntu is ubuntu's. So the
# account's root is /srv/veche-sftp, a bind mount of /home/ubuntu/sftp (root-owned, as required),
# and its writable folders inside belong to the account's group, which ubuntu is in too.
install -d -o root -g root -m 0755 /home/ubuntu/sftp /srv/veche-sftp
for dir in upload backup kp-client; do
  [ -d "/home/ubuntu/sftp/$dir" ] || { install -d -o "$sftp_user" -g veche-sftp -m 2775 "/home/ubuntu/sftp/$dir"; changed=1; }
done
usermod -aG veche-sftp ubuntu
install -d -o ubuntu -g veche-sftp -m 0700 /home/ubuntu/.ssh
fstab_line='/home/ubuntu/sftp /srv/veche-sftp none bind 0 0'
grep -qxF "$fstab_line" /etc/fstab 2>/dev/null || { echo "$fstab_line" >>/etc/fstab; changed=1; }
if mountpoint -q /srv/veche-sftp; then
  say "/srv/veche-sftp is mounted"
else
  mount --bind /home/ubuntu/sftp /srv/veche-sftp
  say "mounted /home/ubuntu/sftp at /srv/veche-sftp"
fi
put_file /etc/ssh/sshd_config.d/60-veche.conf <<EOC || true
# Written by vagrant/provision/common.sh: the replica's SSH (seed 001).
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
# The SFTP-only account: no shell, no forwarding, / is /home/ubuntu/sftp.
Match Group veche-sftp User $sftp_user
  ChrootDirectory /srv/veche-sftp
  ForceCommand internal-sftp -u 0002
  AllowTcpForwarding no
  X11Forwarding no
  PermitTTY no
EOC
# Debian's sshd_config has its own "Subsystem sftp" line: ours, read first, must be the only one.
if grep -qE '^Subsystem[[:space:]]+sftp[[:space:]]+/' /etc/ssh/sshd_config; then
  sed -i -E 's|^(Subsystem[[:space:]]+sftp[[:space:]]+/.*)$|# \1  (vagrant/provision/common.sh: internal-sftp in sshd_config.d)|' /etc/ssh/sshd_config
  changed=1
fi
mkdir -p /run/sshd
[ -f /etc/ssh/ssh_host_ed25519_key ] || { ssh-keygen -q -A; changed=1; }
sshd -t
say "sshd configuration is valid"
if [ "$booted" = 1 ]; then
  systemctl enable ssh >/dev/null 2>&1 || true
  systemctl reload ssh 2>/dev/null || systemctl restart ssh
else
  skip "reloading sshd (no systemd)"
fi

step "a bare XFCE, started only by startxfce4"
need_packages xfce4-session xfwm4 xfce4-panel xfdesktop4 xfce4-terminal xfce4-settings thunar \
  xinit xserver-xorg-core xserver-xorg-input-libinput xserver-xorg-video-fbdev dbus-x11 x11-xserver-utils
for dm in lightdm gdm3 sddm xdm slim lxdm; do
  if dpkg-query -W -f '${Status}' "$dm" 2>/dev/null | grep -q 'install ok installed'; then
    apt-get purge -y -qq "$dm" >/dev/null
    changed=1
    say "removed the display manager $dm"
  fi
done
if [ "$booted" = 1 ]; then
  if [ "$(systemctl get-default)" != multi-user.target ]; then systemctl set-default multi-user.target >/dev/null; changed=1; fi
else
  skip "systemctl set-default multi-user.target (no systemd)"
fi
say "log in on the console (or ssh -X) as ubuntu and type: startxfce4"

step "nvm and Node.js LTS for ubuntu"
if [ -s /home/ubuntu/.nvm/nvm.sh ]; then
  say "nvm is installed"
elif [ "${VECHE_PROVISION_OFFLINE:-0}" = 1 ]; then
  skip "nvm (VECHE_PROVISION_OFFLINE=1: its installer comes from GitHub)"
else
  runuser -u ubuntu -- bash -c "curl -fsSL https://raw.githubusercontent.com/nvm-sh/nvm/$nvm_version/install.sh | PROFILE=/home/ubuntu/.bashrc bash" >/dev/null
  changed=1
fi
if [ -s /home/ubuntu/.nvm/nvm.sh ]; then
  # shellcheck disable=SC2016 # expanded by ubuntu's shell
  runuser -u ubuntu -- bash -c '. "$HOME/.nvm/nvm.sh" && { nvm ls --no-colors lts/* >/dev/null 2>&1 || nvm install --lts >/dev/null; } && nvm alias default "lts/*" >/dev/null && echo "    node $(nvm version default)"'
fi

step "Docker"
need_packages docker.io
# buildx (the Dockerfile uses BuildKit): packaged as docker-buildx from Ubuntu 24.04 and Debian 13 on.
if apt-cache show docker-buildx >/dev/null 2>&1; then
  need_packages docker-buildx
else
  skip "docker-buildx: $PRETTY_NAME has no such package (Ubuntu 24.04 has)"
fi
usermod -aG docker ubuntu
if [ "$booted" = 1 ]; then
  systemctl enable --now docker >/dev/null
  say "$(docker version --format 'engine {{.Server.Version}}' 2>/dev/null || echo 'engine starting')"
else
  skip "starting the Docker engine (no systemd)"
fi

step "done: $([ "$changed" = 1 ] && echo 'changes made' || echo 'nothing to change')"
