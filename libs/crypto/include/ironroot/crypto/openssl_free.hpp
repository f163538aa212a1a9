// A deleter for OpenSSL objects, for std::unique_ptr: `std::unique_ptr<X509,
// OpensslFree<X509_free>>`. Shared by the libraries that own OpenSSL handles (libs/crypto,
// libs/mqtt); it needs no OpenSSL header itself.
#pragma once

namespace ironroot::crypto {

template <auto FreeFn>
struct OpensslFree {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

}  // namespace ironroot::crypto
