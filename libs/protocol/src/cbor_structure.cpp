#include "cbor_structure.hpp"

#include <cbor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ironroot::protocol {
namespace {

// What one call of cbor_stream_decode found: the head of one data item.
struct Head {
  enum class Kind {
    none,
    scalar,       // integer, float, simple value
    text,         // definite-length text string
    bytes,        // definite-length byte string
    text_start,   // indefinite-length text string
    bytes_start,  // indefinite-length byte string
    array,        // definite-length array of `size` items
    array_start,  // indefinite-length array
    map,          // definite-length map of `size` pairs
    map_start,    // indefinite-length map
    tag,
    stop,  // the "break" that ends an indefinite-length item
  };
  Kind kind = Kind::none;
  std::uint64_t size = 0;
};

Head& head_of(void* context) {
  return *static_cast<Head*>(context);
}
void set(void* context, Head::Kind kind, std::uint64_t size = 0) {
  head_of(context) = Head{kind, size};
}

cbor_callbacks make_callbacks() {
  cbor_callbacks c = cbor_empty_callbacks;
  c.uint8 = [](void* x, std::uint8_t) { set(x, Head::Kind::scalar); };
  c.uint16 = [](void* x, std::uint16_t) { set(x, Head::Kind::scalar); };
  c.uint32 = [](void* x, std::uint32_t) { set(x, Head::Kind::scalar); };
  c.uint64 = [](void* x, std::uint64_t) { set(x, Head::Kind::scalar); };
  c.negint8 = [](void* x, std::uint8_t) { set(x, Head::Kind::scalar); };
  c.negint16 = [](void* x, std::uint16_t) { set(x, Head::Kind::scalar); };
  c.negint32 = [](void* x, std::uint32_t) { set(x, Head::Kind::scalar); };
  c.negint64 = [](void* x, std::uint64_t) { set(x, Head::Kind::scalar); };
  c.float2 = [](void* x, float) { set(x, Head::Kind::scalar); };
  c.float4 = [](void* x, float) { set(x, Head::Kind::scalar); };
  c.float8 = [](void* x, double) { set(x, Head::Kind::scalar); };
  c.undefined = [](void* x) { set(x, Head::Kind::scalar); };
  c.null = [](void* x) { set(x, Head::Kind::scalar); };
  c.boolean = [](void* x, bool) { set(x, Head::Kind::scalar); };
  c.string = [](void* x, cbor_data, std::size_t) { set(x, Head::Kind::text); };
  c.byte_string = [](void* x, cbor_data, std::size_t) { set(x, Head::Kind::bytes); };
  c.string_start = [](void* x) { set(x, Head::Kind::text_start); };
  c.byte_string_start = [](void* x) { set(x, Head::Kind::bytes_start); };
  c.array_start = [](void* x, std::size_t n) { set(x, Head::Kind::array, n); };
  c.indef_array_start = [](void* x) { set(x, Head::Kind::array_start); };
  c.map_start = [](void* x, std::size_t n) { set(x, Head::Kind::map, n); };
  c.indef_map_start = [](void* x) { set(x, Head::Kind::map_start); };
  c.tag = [](void* x, std::uint64_t number) { set(x, Head::Kind::tag, number); };
  c.indef_break = [](void* x) { set(x, Head::Kind::stop); };
  return c;
}

const char* describe(Head::Kind kind) {
  switch (kind) {
    case Head::Kind::scalar:
      return "a number or simple value";
    case Head::Kind::text:
    case Head::Kind::text_start:
      return "a text string";
    case Head::Kind::bytes:
    case Head::Kind::bytes_start:
      return "a byte string";
    case Head::Kind::array:
    case Head::Kind::array_start:
      return "an array";
    case Head::Kind::map:
    case Head::Kind::map_start:
      return "a map";
    case Head::Kind::tag:
      return "a tag";
    case Head::Kind::stop:
      return "a break (0xff)";
    case Head::Kind::none:
      break;
  }
  return "an unknown item";
}

// An array, map or indefinite-length string that has started and not ended yet.
struct Open {
  Head::Kind kind;          // array(_start), map(_start), text_start or bytes_start
  bool indefinite;          // ends with a break rather than after `remaining` items
  std::uint64_t remaining;  // definite: items still to come (a map counts keys and values)
  std::uint64_t done = 0;   // items seen so far (even: the next item in a map is a key)
  std::size_t offset;       // where it started, for messages
};

std::string at(std::size_t offset) {
  return " at byte " + std::to_string(offset);
}

}  // namespace

Status check_cbor_structure(ByteView payload, std::size_t max_depth) {
  static const cbor_callbacks callbacks = make_callbacks();
  if (payload.empty()) return fail("the CBOR payload is empty; expected a map");

  std::vector<Open> open;
  std::size_t offset = 0;
  while (offset < payload.size()) {
    Head head;
    const std::size_t left = payload.size() - offset;
    cbor_decoder_result r =
        cbor_stream_decode(as_uchars(payload) + offset, left, &callbacks, &head);
    if (r.status == CBOR_DECODER_NEDATA) {
      return fail("the CBOR payload is truncated: the item" + at(offset) + " needs " +
                  std::to_string(r.required) + " bytes, " + std::to_string(left) + " remain");
    }
    if (r.status != CBOR_DECODER_FINISHED || head.kind == Head::Kind::none || r.read == 0) {
      return fail("malformed CBOR" + at(offset) + ": initial byte " +
                  to_hex(payload.subspan(offset, 1)) + " is reserved or not supported");
    }
    const std::size_t item = offset;
    offset += r.read;

    // What the enclosing item allows here.
    if (open.empty()) {
      if (head.kind != Head::Kind::map && head.kind != Head::Kind::map_start) {
        return fail(std::string("the CBOR payload is ") + describe(head.kind) +
                    ", not a map (a JSON object)");
      }
    } else {
      const Open& parent = open.back();
      const bool chunked =
          parent.kind == Head::Kind::text_start || parent.kind == Head::Kind::bytes_start;
      if (chunked && head.kind != Head::Kind::stop) {
        const auto chunk =
            parent.kind == Head::Kind::text_start ? Head::Kind::text : Head::Kind::bytes;
        if (head.kind != chunk) {
          return fail("malformed CBOR" + at(item) + ": the indefinite-length string started" +
                      at(parent.offset) + " may contain only definite-length " +
                      (chunk == Head::Kind::text ? "text" : "byte") + " strings, not " +
                      describe(head.kind));
        }
      }
      const bool in_map = parent.kind == Head::Kind::map || parent.kind == Head::Kind::map_start;
      if (in_map && parent.done % 2 == 0 && head.kind != Head::Kind::stop &&
          head.kind != Head::Kind::text && head.kind != Head::Kind::text_start) {
        return fail("the CBOR map key" + at(item) + " is " + describe(head.kind) +
                    "; only text-string keys are accepted");
      }
    }

    bool completed = false;  // whether this head was a whole item (or ended one)
    switch (head.kind) {
      case Head::Kind::tag:
        return fail("CBOR tag " + std::to_string(head.size) + at(item) +
                    ": tags are not supported in this API");
      case Head::Kind::stop: {
        if (open.empty() || !open.back().indefinite) {
          return fail("malformed CBOR" + at(item) +
                      ": a break (0xff) outside an indefinite-length item");
        }
        const Open& ended = open.back();
        if (ended.kind == Head::Kind::map_start && ended.done % 2 != 0) {
          return fail("malformed CBOR" + at(item) + ": the map started" + at(ended.offset) +
                      " ends after a key without a value");
        }
        open.pop_back();
        completed = true;
        break;
      }
      case Head::Kind::array:
      case Head::Kind::map: {
        // Every item takes at least one byte, so a count beyond what is left is a truncation
        // (and checking it here keeps 2 * size from overflowing).
        if (head.size > payload.size() - offset) {
          return fail("the CBOR payload is truncated: the " +
                      std::string(head.kind == Head::Kind::map ? "map" : "array") + at(item) +
                      " announces " + std::to_string(head.size) + " entries, only " +
                      std::to_string(payload.size() - offset) + " bytes remain");
        }
        if (head.size == 0) {
          completed = true;
          break;
        }
        if (open.size() >= max_depth) {
          return fail("the CBOR payload nests deeper than " + std::to_string(max_depth) +
                      " levels" + at(item));
        }
        const std::uint64_t items = head.kind == Head::Kind::map ? 2 * head.size : head.size;
        open.push_back(Open{head.kind, false, items, 0, item});
        break;
      }
      case Head::Kind::array_start:
      case Head::Kind::map_start:
      case Head::Kind::text_start:
      case Head::Kind::bytes_start:
        if (open.size() >= max_depth) {
          return fail("the CBOR payload nests deeper than " + std::to_string(max_depth) +
                      " levels" + at(item));
        }
        open.push_back(Open{head.kind, true, 0, 0, item});
        break;
      default:
        completed = true;
        break;
    }

    // A finished item counts towards its parent, which may finish in turn.
    while (completed) {
      if (open.empty()) {
        if (offset != payload.size()) {
          return fail("the CBOR payload has " + std::to_string(payload.size() - offset) +
                      " unexpected bytes after its map, from byte " + std::to_string(offset));
        }
        return {};
      }
      Open& parent = open.back();
      ++parent.done;
      if (parent.indefinite || --parent.remaining > 0) break;
      open.pop_back();
    }
  }
  return fail("the CBOR payload is truncated: it ends inside " + std::to_string(open.size()) +
              " unfinished item(s), the innermost started" + at(open.back().offset));
}

}  // namespace ironroot::protocol
