// The named errors of the D-Bus API (org.mmd.Error.*), as sdbus::Error values a method
// handler throws; sdbus-c++ turns them into D-Bus error replies. Stateless.
#pragma once

#include <sdbus-c++/Error.h>

#include <string>

namespace mm::dbus_error {

inline constexpr const char* kInvalidArgument = "org.mmd.Error.InvalidArgument";
inline constexpr const char* kNotSupported = "org.mmd.Error.NotSupported";
inline constexpr const char* kUnknownRequest = "org.mmd.Error.UnknownRequest";
inline constexpr const char* kPermissionDenied = "org.mmd.Error.PermissionDenied";
inline constexpr const char* kUnavailable = "org.mmd.Error.Unavailable";
inline constexpr const char* kRequestFailed = "org.mmd.Error.RequestFailed";
inline constexpr const char* kInternal = "org.mmd.Error.Internal";

inline sdbus::Error make(const char* name, const std::string& message) {
  return sdbus::Error(name, message);
}

}  // namespace mm::dbus_error
