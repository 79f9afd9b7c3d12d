# flatbake ships this file unchanged below this note, in every Vagrant box it writes, as Flatcar's SDK does:
# flatcar/scripts build_library/oem/vagrant/build/box/base_mac.rb (https://github.com/flatcar/scripts, main of
# 2026-08-22, commit ab6d76d957b8). BSD-3-Clause: Copyright (c) 2006-2013 The Chromium OS Authors,
# (c) 2013-2015 CoreOS, Inc. (https://github.com/flatcar/scripts/blob/main/LICENSE).

# This file must be rewritten with a real value for VirtualBox
Vagrant.configure("2") do |config|
  config.vm.base_mac = "080027000000"
end
