#!/usr/bin/env bash
# Installs the Debian packages lsdlab's tests and demo-corpus recipe use:
#   sip-tester (sipp, an independent SIP peer), baresip (a softphone, a second SIP peer),
#   espeak-ng and flite (offline TTS),
#   asterisk-core-sounds-en-wav (CC-BY-SA-3.0 recorded prompts), sox.
# Only as root (CI, fresh machines); otherwise the tests needing them skip with a reason.
set -u
pkgs="sip-tester baresip espeak-ng flite asterisk-core-sounds-en-wav sox"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "note: not root, not installing Debian packages:$missing (tests needing them will skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null \
  || echo "warning: apt-get could not install:$missing (tests needing them will skip)" >&2
exit 0
