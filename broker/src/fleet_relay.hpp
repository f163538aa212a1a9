// The fleet listener's side of the plugin: the fleet service (a trusted client) may publish and
// subscribe anywhere, and talks to the plugin through `$ironroot/...` (reserved_topics.hpp):
// the devices' API requests it receives with their sender (`$ironroot/from/...`), replies relayed
// to one device, and registry-change notices that make every device gate re-check its
// connections.
#pragma once

struct mosquitto;
struct mosquitto_evt_message;

namespace ironroot::broker {

class FleetRelay {
 public:
  // MOSQ_EVT_ACL_CHECK: everything, except receiving a `$ironroot` message that is neither one of
  // the plugin's events nor a device's API request (so relayed originals and notices reach
  // nobody), and publishing one that would pass for either.
  int on_acl_check(mosquitto* client, const char* topic, int access);
  // MOSQ_EVT_MESSAGE: relays `$ironroot/to/<client>/<topic>` to that client, and re-checks every
  // device connection on `$ironroot/registry/changed`. Other messages pass unchanged.
  int on_message(mosquitto_evt_message& message);
};

}  // namespace ironroot::broker
