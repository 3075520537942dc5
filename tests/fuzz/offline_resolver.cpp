// The configuration loader resolves host names. A fuzzer that invents names must not send them to
// the network's resolver, thousands a second: the config_loader target is linked with
// -Wl,--wrap=getaddrinfo, so the loader's lookups come here. "localhost" is answered as usual
// (from /etc/hosts); any other name does not exist, which the loader already handles as a typo.
#include <netdb.h>
#include <sys/socket.h>

#include <cstring>

extern "C" int __real_getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** results);

extern "C" int __wrap_getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** results) {
  if (node != nullptr && std::strcmp(node, "localhost") == 0) return __real_getaddrinfo(node, service, hints, results);
  return EAI_NONAME;
}
