#include "fleet_relay.hpp"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <string>
#include <string_view>

#include "device_gate.hpp"
#include "reserved_topics.hpp"

namespace ironroot::broker {

int FleetRelay::on_acl_check(mosquitto* /*client*/, const char* topic, int access) {
  const std::string_view name = topic != nullptr ? topic : "";
  if (!is_reserved(name)) return MOSQ_ERR_SUCCESS;
  const bool from_plugin = name.starts_with(kEventsPrefix) || name.starts_with(kFromPrefix);
  switch (access) {
    case MOSQ_ACL_READ:
      return from_plugin ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_WRITE:
      if (!from_plugin) return MOSQ_ERR_SUCCESS;
      mosquitto_log_printf(MOSQ_LOG_NOTICE,
                           "ironroot: fleet client refused iot:Publish on %s: reserved for the "
                           "broker plugin's events and the devices' requests",
                           printable(name).c_str());
      return MOSQ_ERR_ACL_DENIED;
    default:  // subscribe, unsubscribe
      return MOSQ_ERR_SUCCESS;
  }
}

int FleetRelay::on_message(mosquitto_evt_message& message) {
  const std::string_view topic = message.topic != nullptr ? message.topic : "";
  if (!is_reserved(topic)) return MOSQ_ERR_SUCCESS;
  // Never kept as a retained message: the originals reach nobody.
  message.retain = false;
  if (topic == kRegistryChangedTopic) {
    for (DeviceGate* gate : device_gates()) gate->revalidate();
    return MOSQ_ERR_SUCCESS;
  }
  auto relay = parse_relay_topic(topic);
  if (!relay) return MOSQ_ERR_SUCCESS;
  if (!*relay) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "ironroot: dropped a fleet message: %s",
                         printable(relay->error().message).c_str());
    return MOSQ_ERR_SUCCESS;
  }
  const RelayTarget& target = **relay;
  for (DeviceGate* gate : device_gates()) {
    if (gate->deliver(target, message.payload, message.payloadlen, message.qos)) {
      return MOSQ_ERR_SUCCESS;
    }
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE,
                       "ironroot: dropped a reply on %s: client '%s' is not connected",
                       printable(target.topic).c_str(), printable(target.client_id).c_str());
  return MOSQ_ERR_SUCCESS;
}

}  // namespace ironroot::broker
