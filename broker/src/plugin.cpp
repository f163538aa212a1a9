// ironroot's Mosquitto plugin (plugin API version 5): loaded once per listener,
//   plugin_opt_role device   -> DeviceGate (authorization of devices against the registry)
//   plugin_opt_role fleet    -> FleetRelay (the fleet service's replies and notices)
//   plugin_opt_registry PATH -> the fleet service's registry database (role device)
//   plugin_opt_topic_prefix P -> the reserved API's topic prefix, "$aws" unless set (role device)
// See docs/broker-plugin.md. Every callback runs on Mosquitto's single network thread; nothing
// thrown leaves this file (a failure refuses the request).
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "device_gate.hpp"
#include "fleet_relay.hpp"

#define IRONROOT_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

namespace ironroot::broker {
namespace {

struct Instance {
  mosquitto_plugin_id_t* id = nullptr;
  std::unique_ptr<DeviceGate> device;
  std::unique_ptr<FleetRelay> fleet;
};

int failed(const char* where, const char* what) {
  mosquitto_log_printf(MOSQ_LOG_ERR, "ironroot: %s failed: %s", where, what);
  return MOSQ_ERR_UNKNOWN;
}

int on_basic_auth(int, void* event_data, void* userdata) {
  try {
    auto& event = *static_cast<mosquitto_evt_basic_auth*>(event_data);
    return static_cast<Instance*>(userdata)->device->on_basic_auth(event.client);
  } catch (const std::exception& e) {
    failed("authentication", e.what());
    return MOSQ_ERR_AUTH;
  }
}

int on_device_acl_check(int, void* event_data, void* userdata) {
  try {
    auto& event = *static_cast<mosquitto_evt_acl_check*>(event_data);
    return static_cast<Instance*>(userdata)->device->on_acl_check(event.client, event.topic,
                                                                  event.access, event.retain);
  } catch (const std::exception& e) {
    failed("authorization", e.what());
    return MOSQ_ERR_ACL_DENIED;
  }
}

int on_device_message(int, void* event_data, void* userdata) {
  try {
    auto& event = *static_cast<mosquitto_evt_message*>(event_data);
    return static_cast<Instance*>(userdata)->device->on_message(event);
  } catch (const std::exception& e) {
    failed("request forwarding", e.what());
    return MOSQ_ERR_ACL_DENIED;
  }
}

int on_device_disconnect(int, void* event_data, void* userdata) {
  try {
    auto& event = *static_cast<mosquitto_evt_disconnect*>(event_data);
    static_cast<Instance*>(userdata)->device->on_disconnect(event.client);
  } catch (const std::exception& e) {
    failed("disconnection", e.what());
  }
  return MOSQ_ERR_SUCCESS;
}

int on_fleet_acl_check(int, void* event_data, void* userdata) {
  try {
    auto& event = *static_cast<mosquitto_evt_acl_check*>(event_data);
    return static_cast<Instance*>(userdata)->fleet->on_acl_check(event.client, event.topic,
                                                                 event.access);
  } catch (const std::exception& e) {
    failed("authorization", e.what());
    return MOSQ_ERR_ACL_DENIED;
  }
}

int on_fleet_message(int, void* event_data, void* userdata) {
  try {
    auto& event = *static_cast<mosquitto_evt_message*>(event_data);
    return static_cast<Instance*>(userdata)->fleet->on_message(event);
  } catch (const std::exception& e) {
    failed("relay", e.what());
    return MOSQ_ERR_SUCCESS;
  }
}

struct Registration {
  int event;
  MOSQ_FUNC_generic_callback callback;
};
constexpr Registration kDeviceCallbacks[] = {{MOSQ_EVT_BASIC_AUTH, on_basic_auth},
                                             {MOSQ_EVT_ACL_CHECK, on_device_acl_check},
                                             {MOSQ_EVT_MESSAGE, on_device_message},
                                             {MOSQ_EVT_DISCONNECT, on_device_disconnect}};
constexpr Registration kFleetCallbacks[] = {{MOSQ_EVT_ACL_CHECK, on_fleet_acl_check},
                                            {MOSQ_EVT_MESSAGE, on_fleet_message}};

template <class Callbacks>
void unregister_all(Instance& instance, const Callbacks& callbacks) {
  for (const Registration& r : callbacks) {
    mosquitto_callback_unregister(instance.id, r.event, r.callback, nullptr);
  }
}

template <class Callbacks>
int register_all(Instance& instance, const Callbacks& callbacks) {
  for (const Registration& r : callbacks) {
    int rc = mosquitto_callback_register(instance.id, r.event, r.callback, nullptr, &instance);
    if (rc != MOSQ_ERR_SUCCESS) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "ironroot: cannot register for event %d: %s", r.event,
                           mosquitto_strerror(rc));
      unregister_all(instance, callbacks);
      return rc;
    }
  }
  return MOSQ_ERR_SUCCESS;
}

int configuration_error(const std::string& message) {
  mosquitto_log_printf(MOSQ_LOG_ERR, "ironroot: plugin configuration: %s", message.c_str());
  return MOSQ_ERR_INVAL;
}

int init(mosquitto_plugin_id_t* id, void** userdata, mosquitto_opt* options, int option_count) {
  std::optional<std::string> role;
  std::optional<std::string> registry;
  std::optional<std::string> topic_prefix;
  for (int i = 0; i < option_count; ++i) {
    const std::string_view key = options[i].key != nullptr ? options[i].key : "";
    const std::string value = options[i].value != nullptr ? options[i].value : "";
    if (key == "role") {
      role = value;
    } else if (key == "registry") {
      registry = value;
    } else if (key == "topic_prefix") {
      topic_prefix = value;
    } else {
      return configuration_error(
          "unknown option plugin_opt_" + std::string(key) +
          " (known: plugin_opt_role, plugin_opt_registry, plugin_opt_topic_prefix)");
    }
  }
  auto instance = std::make_unique<Instance>();
  instance->id = id;
  int rc = MOSQ_ERR_SUCCESS;
  if (role == "device") {
    if (!registry || registry->empty()) {
      return configuration_error(
          "plugin_opt_role device needs plugin_opt_registry <the fleet registry database>");
    }
    auto gate = DeviceGate::open(*registry, topic_prefix.value_or(std::string(kDefaultApiPrefix)));
    if (!gate) return configuration_error(gate.error().message);
    instance->device = std::move(*gate);
    rc = register_all(*instance, kDeviceCallbacks);
  } else if (role == "fleet") {
    if (registry) return configuration_error("plugin_opt_registry is for plugin_opt_role device");
    if (topic_prefix) {
      return configuration_error("plugin_opt_topic_prefix is for plugin_opt_role device");
    }
    instance->fleet = std::make_unique<FleetRelay>();
    rc = register_all(*instance, kFleetCallbacks);
  } else {
    return configuration_error(
        "plugin_opt_role must be 'device' (the devices' listener) or "
        "'fleet' (the fleet service's listener)" +
        (role ? ", not '" + *role + "'" : std::string()));
  }
  if (rc != MOSQ_ERR_SUCCESS) return rc;
  mosquitto_log_printf(MOSQ_LOG_INFO, "ironroot: broker plugin loaded (role %s)", role->c_str());
  *userdata = instance.release();
  return MOSQ_ERR_SUCCESS;
}

}  // namespace
}  // namespace ironroot::broker

IRONROOT_PLUGIN_EXPORT int mosquitto_plugin_version(int supported_version_count,
                                                    const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

IRONROOT_PLUGIN_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                                                 mosquitto_opt* options, int option_count) {
  try {
    return ironroot::broker::init(identifier, userdata, options, option_count);
  } catch (const std::exception& e) {
    return ironroot::broker::failed("initialisation", e.what());
  }
}

IRONROOT_PLUGIN_EXPORT int mosquitto_plugin_cleanup(void* userdata, mosquitto_opt*, int) {
  using namespace ironroot::broker;
  std::unique_ptr<Instance> instance(static_cast<Instance*>(userdata));
  if (!instance) return MOSQ_ERR_SUCCESS;
  if (instance->device) unregister_all(*instance, kDeviceCallbacks);
  if (instance->fleet) unregister_all(*instance, kFleetCallbacks);
  return MOSQ_ERR_SUCCESS;
}
