# flatbake ships this file unchanged below this note, in every Vagrant box it writes, as Flatcar's SDK does:
# flatcar/scripts build_library/oem/vagrant/build/box/configure_networks.rb (https://github.com/flatcar/scripts, main of
# 2026-08-22, commit ab6d76d957b8). BSD-3-Clause: Copyright (c) 2006-2013 The Chromium OS Authors,
# (c) 2013-2015 CoreOS, Inc. (https://github.com/flatcar/scripts/blob/main/LICENSE).

# -*- mode: ruby -*-
# # vi: set ft=ruby :

# NOTE: This monkey-patching is done to force cloud-init over NetworkManager.
# Vagrant attempts to detect cloud-init, but Flatcar doesn't have an executable
# under that name, only coreos-cloudinit.

require Vagrant.source_root.join("plugins/guests/coreos/cap/configure_networks.rb")

module VagrantPlugins
  module GuestCoreOS
    module Cap
      class ConfigureNetworks
        def self.configure_networks(machine, networks)
          configure_networks_cloud_init(machine, networks)
        end
      end
    end
  end
end
