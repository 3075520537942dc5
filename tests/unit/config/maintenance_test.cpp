// [maintenance]: the custom page must exist when the configuration is loaded, relative paths being
// taken from the configuration file's directory.
#include "haven/config/loader.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "config_test_support.hpp"

using namespace haven::config;
using haven::config::test::contains;
using haven::config::test::must_fail;
using haven::config::test::must_load;
using haven::config::test::where;

namespace {

// A private directory under the system temp directory, removed again at the end of the test.
class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("haven-config-test-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name) << content;
  }

 private:
  std::filesystem::path path_;
};

std::string with_page(const std::string& page) {
  return "[maintenance]\npage = \"" + page +
         "\"\n"
         "[backends.api]\nservers = [{ name = \"a\", address = \"127.0.0.1:9000\" }]\n"
         "[frontends.web]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"api\"\n";
}

}  // namespace

TEST_CASE("a relative page is found next to the configuration file and stored resolved") {
  const TempDir dir;
  dir.write("sorry.html", "<h1>back soon</h1>");
  const std::string source = (dir.path() / "haven.toml").string();
  const Config config = must_load(with_page("sorry.html"), source);
  CHECK(config.maintenance.page == (dir.path() / "sorry.html").string());
}

TEST_CASE("an absolute page is kept as written") {
  const TempDir dir;
  dir.write("sorry.html", "<h1>back soon</h1>");
  const std::string page = (dir.path() / "sorry.html").string();
  const Config config = must_load(with_page(page), "/elsewhere/haven.toml");
  CHECK(config.maintenance.page == page);
}

TEST_CASE("a missing page is an error at the page value") {
  const TempDir dir;
  const std::string source = (dir.path() / "haven.toml").string();
  const ConfigError error = must_fail(R"([maintenance]
retry_after = "5s"
page = "missing.html"
)",
                                      source);
  CHECK(error.file == source);
  CHECK(where(error) == "3:8");
  CHECK(error.message == "maintenance page \"missing.html\" does not exist (looked for \"" +
                             (dir.path() / "missing.html").string() + "\")");
}

TEST_CASE("a directory is not a page") {
  const TempDir dir;
  std::filesystem::create_directories(dir.path() / "pages");
  const ConfigError error = must_fail(with_page("pages"), (dir.path() / "haven.toml").string());
  CHECK(where(error) == "2:8");
  CHECK(contains(error.message, "is not a file"));
}

TEST_CASE("an empty page means the bundled one") {
  const Config config = must_load(with_page(""));
  CHECK(config.maintenance.page.empty());
}

TEST_CASE("poll entries that are paths on haven's own origin are kept as written") {
  const Config config = must_load(R"([maintenance]
poll = ["/api/healthz", "/healthz?full=1&x=%2F", "/status;v=1/@a:b~c"]
[backends.api]
servers = [{ name = "a", address = "127.0.0.1:9000" }]
[frontends.web]
bind = "127.0.0.1:0"
default_backend = "api"
)");
  CHECK(config.maintenance.poll == std::vector<std::string>{"/api/healthz", "/healthz?full=1&x=%2F", "/status;v=1/@a:b~c"});
}

TEST_CASE("a poll entry that a browser could read as another host or another URL is refused") {
  struct Case {
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {R"("//evil.example/login")",
       R"(each entry of poll must start with a single "/": browsers read "//evil.example/login" as an address on another host)"},
      {R"("///evil.example")",
       R"(each entry of poll must start with a single "/": browsers read "///evil.example" as an address on another host)"},
      {R"('/\evil.example/login')",
       R"(each entry of poll must start with a single "/": browsers read "/\\evil.example/login" as an address on another host)"},
      {R"('/api\healthz')", R"(each entry of poll must be a URL path such as "/healthz": "/api\\healthz" contains a backslash)"},
      {R"("/api/health z")", R"(each entry of poll must be a URL path such as "/healthz": "/api/health z" contains a space)"},
      {R"("/healthz\r\nX: 1")",
       R"(each entry of poll must be a URL path such as "/healthz": "/healthz\r\nX: 1" contains a carriage return)"},
      {R"("/healthz\n")", R"(each entry of poll must be a URL path such as "/healthz": "/healthz\n" contains a line feed)"},
      {R"("/healthz\t")", R"(each entry of poll must be a URL path such as "/healthz": "/healthz\t" contains a tab)"},
      {R"("/healthz\u001B")",
       R"(each entry of poll must be a URL path such as "/healthz": "/healthz\u001B" contains the control byte 0x1B)"},
      {R"("/healthz#ok")", R"(each entry of poll must be a URL path such as "/healthz": "/healthz#ok" contains "#")"},
      {R"("/état")",
       R"(each entry of poll must be a URL path such as "/healthz": "/état" contains the non-ASCII byte 0xC3 (percent-encode it))"},
      {R"("/a<script>")", R"(each entry of poll must be a URL path such as "/healthz": "/a<script>" contains "<")"},
      {R"("/a\"b")", R"(each entry of poll must be a URL path such as "/healthz": "/a\"b" contains a double quote)"},
      {R"("/a%g0")",
       R"(each entry of poll must be a URL path such as "/healthz": "/a%g0" has a "%" that is not followed by two hex digits)"},
      {R"("healthz")", R"(each entry of poll must start with "/", not "healthz")"},
      {R"("")", R"(each entry of poll must start with "/", not "")"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    const ConfigError error = must_fail(std::string("[maintenance]\npoll = [\"/ok\", ") + c.value + "]\n");
    // "poll = [\"/ok\", " is 15 characters, so the second entry starts at column 16.
    CHECK(where(error) == "2:16");
    CHECK(error.message == c.message);
  }
}

TEST_CASE("poll_interval runs from one second to one hour") {
  const std::string rest =
      "[backends.api]\nservers = [{ name = \"a\", address = \"127.0.0.1:9000\" }]\n"
      "[frontends.web]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"api\"\n";
  CHECK(must_load("[maintenance]\npoll_interval = \"1s\"\n" + rest).maintenance.poll_interval == Duration(1000));
  CHECK(must_load("[maintenance]\npoll_interval = \"1h\"\n" + rest).maintenance.poll_interval == Duration(3600000));

  // The last one would overflow the browser's setTimeout many times over.
  const char* const too_long[] = {"\"61m\"", "\"3600001ms\"", "\"1.001h\"", "\"4294967295h\""};
  for (const char* value : too_long) {
    CAPTURE(value);
    const ConfigError error = must_fail(std::string("[maintenance]\npoll_interval = ") + value + "\n");
    CHECK(where(error) == "2:17");
    CHECK(error.message == "poll_interval must be at most 1h");
  }
}
