// Counts every byte the program holds through operator new, and the peak since a mark: for tests
// that prove a bound on RAM (the bootloader's verification, the OTA agent's download). Include it
// in exactly one source file of a test binary: it replaces the global allocation functions.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace ironroot::testing::heap_meter {

inline std::atomic<std::size_t> live_bytes{0};
inline std::atomic<std::size_t> peak_bytes{0};
inline constexpr std::size_t kHeader = alignof(std::max_align_t);

inline void* counted_new(std::size_t size) {
  auto* base = static_cast<unsigned char*>(std::malloc(size + kHeader));
  if (!base) throw std::bad_alloc();
  *reinterpret_cast<std::size_t*>(base) = size;
  const std::size_t now = live_bytes.fetch_add(size) + size;
  std::size_t peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
  return base + kHeader;
}

inline void counted_delete(void* p) noexcept {
  if (!p) return;
  auto* base = static_cast<unsigned char*>(p) - kHeader;
  live_bytes.fetch_sub(*reinterpret_cast<std::size_t*>(base));
  std::free(base);
}

// Starts a measurement: the peak restarts from what is live now, which it returns.
inline std::size_t mark() {
  const std::size_t now = live_bytes.load();
  peak_bytes.store(now);
  return now;
}

// The most held at once since mark(`baseline`), beyond the baseline.
inline std::size_t peak_growth(std::size_t baseline) {
  const std::size_t peak = peak_bytes.load();
  return peak > baseline ? peak - baseline : 0;
}

}  // namespace ironroot::testing::heap_meter

void* operator new(std::size_t size) {
  return ironroot::testing::heap_meter::counted_new(size);
}
void* operator new[](std::size_t size) {
  return ironroot::testing::heap_meter::counted_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ironroot::testing::heap_meter::counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return ironroot::testing::heap_meter::counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  ironroot::testing::heap_meter::counted_delete(p);
}
void operator delete[](void* p) noexcept {
  ironroot::testing::heap_meter::counted_delete(p);
}
void operator delete(void* p, std::size_t) noexcept {
  ironroot::testing::heap_meter::counted_delete(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  ironroot::testing::heap_meter::counted_delete(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  ironroot::testing::heap_meter::counted_delete(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  ironroot::testing::heap_meter::counted_delete(p);
}
