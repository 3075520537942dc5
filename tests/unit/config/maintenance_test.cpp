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
