#!/usr/bin/env bash
# Remove the environments (venv and ROS 2 extras, about 2 GB a distro) of checkouts that no longer
# exist. Every clone gets venvs of its own outside its tree (scripts/common.sh), so deleting a clone
# leaves them behind; on a machine where CI clones afresh for every run they fill the disk.
#   scripts/prune_venvs.sh [--dry-run]
# A venv records its checkout in checkout.txt (scripts/setup.sh writes it). One whose checkout is
# gone is removed; one without the record (made before it existed) is listed and left alone, since
# nothing tells whose it is.
set -euo pipefail
dry_run=0
case "${1:-}" in
  --dry-run) dry_run=1 ;;
  "") ;;
  *) echo "usage: scripts/prune_venvs.sh [--dry-run]" >&2; exit 2 ;;
esac
venvs=${MIXFORMERV2_ROS_VENVS:-$HOME/.cache/mixformerv2_ros/venvs}
[ -d "$venvs" ] || { echo "prune_venvs: no $venvs, nothing to prune"; exit 0; }
removed=0
for venv in "$venvs"/*-kilted "$venvs"/*-jazzy; do
  [ -d "$venv" ] || continue
  if [ ! -f "$venv/checkout.txt" ]; then
    echo "prune_venvs: kept $venv (no checkout.txt: its checkout is unknown)"
    continue
  fi
  checkout=$(head -n1 "$venv/checkout.txt")
  if [ -f "$checkout/scripts/common.sh" ]; then
    continue
  fi
  if [ "$dry_run" = 1 ]; then
    echo "prune_venvs: would remove $venv and its extras ($checkout is gone)"
  else
    rm -rf "$venv" "$venv-ros-extras"
    echo "prune_venvs: removed $venv and its extras ($checkout is gone)"
  fi
  removed=$((removed + 1))
done
echo "prune_venvs: $removed environment(s) of deleted checkouts$([ "$dry_run" = 1 ] && echo ' found' || echo ' removed')"
