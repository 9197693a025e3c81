#!/usr/bin/env bash
# System packages edgeinfer's setup needs on Debian/Ubuntu; installs only what is missing.
#   python3-venv           to create .venv
#   dataset-fashion-mnist  the real Fashion-MNIST data (IDX files, /usr/share/datasets/fashion-mnist)
#   cmake, g++             to generate vision_msgs with the ROS 2 wheels' rosidl toolchain
#   chromium               headless browser: the tests render report.html and check its plots
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "setup: missing system packages (${need[*]}) and no apt-get; install them by hand" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${need[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
