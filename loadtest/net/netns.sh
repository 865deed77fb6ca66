#!/usr/bin/env bash
# Last-resort cleanup that needs neither node nor the repo: removes every sr-*
# network namespace (and kills the processes inside it, which can only be ours).
#   loadtest/net/netns.sh cleanup     remove them
#   loadtest/net/netns.sh list        show them
# Normal runs clean up after themselves (netns.ts: finally + exit/signal hooks);
# this is for a SIGKILLed run or a crashed machine session.
set -euo pipefail

ours() { ip netns list 2>/dev/null | awk '{print $1}' | grep '^sr-' || true; }

case "${1:-}" in
  list) ours ;;
  cleanup)
    for ns in $(ours); do
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns" && echo "removed $ns"
    done
    ;;
  *) echo "usage: $0 list|cleanup" >&2; exit 2 ;;
esac
