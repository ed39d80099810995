// viscpm_fuzz: the in-process mutation driver over the targets of fuzz.h (see README.md).
//
//   viscpm_fuzz --target NAME|all [--runs N | --seconds S] [--seed K] [--fixtures DIR]
//               [--crash-dir DIR] [--timeout-ms T] [--max-alloc-mb M] [--rss-growth-mb G]
//   viscpm_fuzz --target NAME --replay FILE...
//   viscpm_fuzz --list | --write-corpus DIR
//
// Exit status: 0 clean, 1 findings (exceptions, oracle failures, refused allocations, RSS
// growth), 2 usage or harness error, 3 hang (watchdog), 77 fixtures missing (skipped); a
// crash ends the process with its signal after the input is saved.
#include <ATen/Parallel.h>

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>
#include <sstream>
#include <thread>
#include <typeinfo>

#include <cxxabi.h>

#include "alloc_guard.h"
#include "fuzz.h"
#include "mutator.h"
#include "test_config.h"

namespace viscpm::fuzz {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitFindings = 1, kExitUsage = 2, kExitHang = 3, kExitSkip = 77;

struct Options {
  std::string target;
  uint64_t runs = 0;      // per target; 0: not bounded by count
  double seconds = 0;     // per target; 0: not bounded by time
  uint64_t seed = 1;
  std::string fixtures;
  std::string crash_dir = "fuzz-findings";
  uint64_t timeout_ms = 10'000;
  uint64_t max_alloc_mb = 256;
  uint64_t rss_growth_mb = 32;
  size_t max_len = 0;     // 0: the target's own
  size_t corpus_cap = 1000;
  std::vector<std::string> replay;
  std::string write_corpus;
  bool list = false;
  bool target_stderr = false;   // let the libraries' own stderr chatter through (libpng, libjpeg)
  bool print_outcomes = false;  // each new outcome feature, as it is found (tuning aid)
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "viscpm_fuzz: " << problem << "\n"
            << "usage: viscpm_fuzz --target NAME|all [--runs N | --seconds S] [--seed K] [--fixtures DIR]\n"
            << "                   [--crash-dir DIR] [--timeout-ms T] [--max-alloc-mb M] [--rss-growth-mb G]\n"
            << "                   [--max-len BYTES] [--corpus-cap N] [--target-stderr] [--print-outcomes]\n"
            << "       viscpm_fuzz --target NAME --replay FILE...\n"
            << "       viscpm_fuzz --list\n"
            << "       viscpm_fuzz --write-corpus DIR   (the seed corpus of every target, for libFuzzer)\n";
  std::exit(kExitUsage);
}

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  auto number = [&](int& i) -> uint64_t {
    std::string v = value(i);
    char* end = nullptr;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end) usage("not a number: " + v);
    return n;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--target") o.target = value(i);
    else if (a == "--runs") o.runs = number(i);
    else if (a == "--seconds") o.seconds = std::atof(value(i).c_str());
    else if (a == "--seed") o.seed = number(i);
    else if (a == "--fixtures") o.fixtures = value(i);
    else if (a == "--crash-dir") o.crash_dir = value(i);
    else if (a == "--timeout-ms") o.timeout_ms = number(i);
    else if (a == "--max-alloc-mb") o.max_alloc_mb = number(i);
    else if (a == "--rss-growth-mb") o.rss_growth_mb = number(i);
    else if (a == "--max-len") o.max_len = number(i);
    else if (a == "--corpus-cap") o.corpus_cap = number(i);
    else if (a == "--write-corpus") o.write_corpus = value(i);
    else if (a == "--list") o.list = true;
    else if (a == "--target-stderr") o.target_stderr = true;
    else if (a == "--print-outcomes") o.print_outcomes = true;
    else if (a == "--replay") {
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) o.replay.push_back(argv[++i]);
      if (o.replay.empty()) usage("--replay needs files");
    } else if (a == "--help" || a == "-h") usage("help");
    else usage("unknown option " + a);
  }
  if (!o.list && o.write_corpus.empty() && o.target.empty()) usage("--target is required");
  if (o.replay.empty() && o.runs == 0 && o.seconds <= 0) o.runs = 10'000;
  return o;
}

// ---- memory --------------------------------------------------------------------------------

double rss_mib() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return double(pages_resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

// ---- the input in flight (read by the watchdog and the signal handlers) ---------------------

std::mutex g_input_mutex;                 // held by the watchdog while it copies the input
const char* volatile g_data = nullptr;    // the input being run
volatile size_t g_size = 0;
const char* volatile g_target = "none";
std::atomic<int64_t> g_started_ns{0};     // 0: no input running
char g_crash_dir[4096];
int g_stderr = 2;        // the real stderr (fd 2 points at /dev/null while an input runs)
int g_devnull = -1;

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string save_finding(const char* kind, const std::string& target, const Bytes& input, const std::string& what) {
  std::filesystem::create_directories(g_crash_dir);
  std::string base = std::string(g_crash_dir) + "/" + kind + "-" + target + "-" +
                     hex(fnv1a(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
  write_bytes(base + ".bin", reinterpret_cast<const uint8_t*>(input.data()), input.size());
  std::ofstream(base + ".txt") << kind << " in target " << target << ": " << what << "\n"
                               << "reproduce: viscpm_fuzz --target " << target << " --replay " << base << ".bin\n";
  return base + ".bin";
}

// Signal handlers may only use async-signal-safe calls: write(2), open(2), a hand-made hash.
void write_str(int fd, const char* s) {
  if (fd == 2) fd = g_stderr;
  ssize_t ignored = ::write(fd, s, std::strlen(s));
  (void)ignored;
}

void on_fatal_signal(int sig) {
  const char* data = g_data;
  size_t size = g_size;
  char path[4200];
  path[0] = 0;
  if (data) {
    uint64_t h = fnv1a(reinterpret_cast<const uint8_t*>(data), size);
    char name[64] = "/crash-";
    size_t n = std::strlen(name);
    for (const char* t = g_target; *t && n < 40; ++t) name[n++] = *t;
    name[n++] = '-';
    for (int i = 15; i >= 0; --i) name[n++] = "0123456789abcdef"[(h >> (4 * i)) & 15];
    std::memcpy(name + n, ".bin", 5);
    std::strncpy(path, g_crash_dir, 4096);
    path[4096] = 0;
    std::strcat(path, name);
    ::mkdir(g_crash_dir, 0755);
    int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      for (size_t done = 0; done < size;) {
        ssize_t w = ::write(fd, data + done, size - done);
        if (w <= 0) break;
        done += static_cast<size_t>(w);
      }
      ::close(fd);
    }
  }
  write_str(2, "\n==viscpm_fuzz== CRASH: signal ");
  write_str(2, sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE" : sig == SIGILL ? "SIGILL"
                                                                       : sig == SIGABRT ? "SIGABRT" : "?");
  write_str(2, " in target ");
  write_str(2, g_target);
  if (path[0]) {
    write_str(2, "; input saved to ");
    write_str(2, path);
    write_str(2, "\n==viscpm_fuzz== reproduce: viscpm_fuzz --target ");
    write_str(2, g_target);
    write_str(2, " --replay ");
    write_str(2, path);
  } else {
    write_str(2, " (outside any input)");
  }
  write_str(2, "\n");
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void on_terminate() {
  // An exception escaped somewhere no one catches (a thread, a noexcept function).
  std::string what = "no active exception";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = std::string(x.what()).substr(0, 300);
    } catch (...) {
      what = "a non-std exception";
    }
  }
  ::dprintf(g_stderr, "\n==viscpm_fuzz== std::terminate called (%s)\n", what.c_str());
  std::abort();  // SIGABRT: the handler saves the input
}

void install_crash_handlers() {
  static std::vector<char> alt_stack(1 << 16);  // stack overflows still reach the handler
  stack_t ss{};
  ss.ss_sp = alt_stack.data();
  ss.ss_size = alt_stack.size();
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa{};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &sa, nullptr);
  std::set_terminate(on_terminate);
}

std::filesystem::path g_scratch;

// Aborts the process, input saved, when one input runs past the timeout.
void start_watchdog(uint64_t timeout_ms) {
  std::thread([timeout_ms] {
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::lock_guard<std::mutex> lock(g_input_mutex);
      int64_t started = g_started_ns.load();
      if (started == 0) continue;
      int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
      if (now - started < static_cast<int64_t>(timeout_ms) * 1'000'000) continue;
      Bytes input(g_data, g_size);
      std::string target = g_target;
      std::string path = save_finding("hang", target, input, "one input ran over " + std::to_string(timeout_ms) + " ms");
      ::dprintf(g_stderr,
                   "\n==viscpm_fuzz== HANG: an input of target %s ran over %llu ms; input saved to %s\n"
                   "==viscpm_fuzz== reproduce: viscpm_fuzz --target %s --replay %s\n",
                   target.c_str(), static_cast<unsigned long long>(timeout_ms), path.c_str(), target.c_str(),
                   path.c_str());
      std::error_code ec;
      std::filesystem::remove_all(g_scratch, ec);
      ::_exit(kExitHang);
    }
  }).detach();
}

// ---- one input --------------------------------------------------------------------------

enum class Verdict { kOk, kFinding };

struct RunResult {
  Verdict verdict = Verdict::kOk;
  const char* kind = "";  // "exception", "oracle", "alloc"
  std::string what;
};

std::string exception_type_name() {
  int status = 0;
  const std::type_info* t = abi::__cxa_current_exception_type();
  if (!t) return "?";
  char* name = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : t->name();
  std::free(name);
  return out;
}

RunResult run_one(const Target& target, const Bytes& input, const Options& o) {
  RunResult r;
  {
    std::lock_guard<std::mutex> lock(g_input_mutex);
    g_data = input.data();
    g_size = input.size();
    g_target = target.name;
    g_started_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  }
  reset_outcome();
  if (g_devnull >= 0) ::dup2(g_devnull, 2);
  alloc_guard_arm(o.max_alloc_mb << 20);
  try {
    target.fuzz_one(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  } catch (const OracleViolation& e) {
    r = {Verdict::kFinding, "oracle", e.what()};
  } catch (const HarnessError&) {
    alloc_guard_disarm();
    if (g_devnull >= 0) ::dup2(g_stderr, 2);
    throw;
  } catch (const viscpm::Error& e) {
    r = {Verdict::kFinding, "exception",
         std::string("viscpm::Error of code ") + error_code_name(e.code()) + ": " + e.what()};
  } catch (const std::exception& e) {
    r = {Verdict::kFinding, "exception", exception_type_name() + ": " + e.what()};
  } catch (...) {
    r = {Verdict::kFinding, "exception", "non-std exception " + exception_type_name()};
  }
  alloc_guard_disarm();
  if (g_devnull >= 0) ::dup2(g_stderr, 2);
  if (size_t refused = alloc_guard_refused()) {
    std::string first = r.what.empty() ? "the steps then said: " + outcome() : "then: " + r.what;
    r = {Verdict::kFinding, "alloc",
         "an allocation of " + std::to_string(refused) + " bytes (over --max-alloc-mb " +
             std::to_string(o.max_alloc_mb) + ") was requested; " + first};
  }
  {
    std::lock_guard<std::mutex> lock(g_input_mutex);
    g_started_ns = 0;
    g_data = nullptr;
    g_size = 0;
  }
  // c10::Error appends a stack trace to its message: keep the message.
  if (size_t frames = r.what.find("\nframe #0"); frames != std::string::npos) r.what.resize(frames);
  if (r.what.size() > 2000) r.what.resize(2000);
  return r;
}

// ---- one target --------------------------------------------------------------------------

struct Stats {
  std::string name;
  uint64_t inputs = 0, accepted = 0, findings = 0;
  std::map<std::string, uint64_t> by_kind;
  size_t seeds = 0, corpus = 0, features = 0;
  double corpus_growth_mib = 0;  // corpus bytes added after warm-up
  double seconds = 0, init_seconds = 0;
  double rss_start = 0, rss_warm = 0, rss_end = 0;
  bool rss_flat = true;
};

uint64_t target_seed(uint64_t seed, const std::string& name) {
  return seed * 0x9e3779b97f4a7c15ull ^ fnv1a(reinterpret_cast<const uint8_t*>(name.data()), name.size());
}

Stats fuzz_target(const Target& t, const Context& context, const Options& o) {
  Stats s;
  s.name = t.name;
  s.rss_start = rss_mib();
  auto t0 = Clock::now();
  t.init(context);
  std::vector<Bytes> corpus = t.seeds(context);
  s.init_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  s.seeds = corpus.size();
  size_t max_len = o.max_len ? o.max_len : t.max_len;
  std::vector<Bytes> dictionary = t.dictionary ? t.dictionary() : std::vector<Bytes>{};
  Mutator m(target_seed(o.seed, t.name));
  m.set_corpus(&corpus);
  m.set_dictionary(&dictionary);
  // Outcome features: (step number, normalised message) hashes. An input that shows one never
  // seen joins the corpus. Bounded and reserved up front, so the driver's own memory stays
  // flat however many distinct messages the mutants produce.
  constexpr size_t kMaxFeatures = 100'000;
  std::unordered_set<uint64_t> features;
  features.reserve(kMaxFeatures);
  std::set<std::string> saved;  // one saved input per distinct finding message
  const double warm_fraction = 0.1;
  // The corpus keeps interesting inputs (archives of up to a few hundred kB): its growth is
  // the harness's own memory, not the target's, and is left out of the RSS check.
  auto corpus_mib = [](const std::vector<Bytes>& inputs) {
    double bytes = 0;
    for (const auto& b : inputs) bytes += double(b.capacity());
    return bytes / (1024.0 * 1024.0);
  };
  double corpus_mib_warm = 0;
  bool warm = false;
  auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  double last_report = 0;
  for (uint64_t i = 0;; ++i) {
    double now = elapsed();
    if (o.runs && i >= o.runs) break;
    if (o.seconds > 0 && now >= o.seconds && i >= s.seeds) break;
    if (!warm && ((o.runs && i >= std::max<uint64_t>(s.seeds, uint64_t(o.runs * warm_fraction))) ||
                  (!o.runs && o.seconds > 0 && now >= o.seconds * warm_fraction && i >= s.seeds))) {
      warm = true;
      s.rss_warm = rss_mib();
      corpus_mib_warm = corpus_mib(corpus);
    }
    Bytes input;
    if (i < s.seeds) {
      input = corpus[i];  // every seed once, unmodified
    } else {
      size_t pick = m.below(corpus.size());
      for (int k = 0; k < 3 && corpus[pick].size() > (256u << 10) && m.percent(90); ++k) pick = m.below(corpus.size());
      input = corpus[pick];
      if (t.mutate && m.percent(80)) t.mutate(input, max_len, m);
      else m.mutate(input, max_len);
    }
    RunResult r = run_one(t, input, o);
    ++s.inputs;
    if (r.verdict == Verdict::kFinding) {
      ++s.findings;
      ++s.by_kind[r.kind];
      std::string key = std::string(r.kind) + r.what.substr(0, 160);
      if (saved.size() < 50 && saved.insert(key).second) {
        std::string path = save_finding(r.kind, t.name, input, r.what);
        std::cerr << "==viscpm_fuzz== FINDING (" << r.kind << ") in target " << t.name << ": " << r.what
                  << "\n==viscpm_fuzz== input saved to " << path << "\n";
      }
      continue;
    }
    if (outcome().find("ok|") != std::string::npos) ++s.accepted;
    bool fresh = false;
    {
      const std::string& steps = outcome();
      uint64_t step = 0;
      for (size_t begin = 0, end; begin < steps.size(); begin = end + 1, ++step) {
        end = steps.find('|', begin);
        if (end == std::string::npos) end = steps.size();
        uint64_t h = fnv1a(reinterpret_cast<const uint8_t*>(steps.data() + begin), end - begin) ^ (step * 0x9e3779b97f4a7c15ull);
        if (features.size() < kMaxFeatures && features.insert(h).second) {
          fresh = true;
          if (o.print_outcomes) ::dprintf(g_stderr, "[feature] %s step %llu: %.*s\n", t.name,
                                          static_cast<unsigned long long>(step), static_cast<int>(end - begin),
                                          steps.data() + begin);
        }
      }
    }
    if (fresh && i >= s.seeds) {  // a new outcome: keep the input
      if (corpus.size() < o.corpus_cap) corpus.push_back(input);
      else corpus[s.seeds + m.below(corpus.size() - s.seeds)] = input;
    }
    if (now - last_report >= 60) {  // progress on long runs
      last_report = now;
      if (now > 0)
        std::fprintf(stderr, "[fuzz] %s: %llu inputs, %.0f s, %.0f exec/s, RSS %.1f MiB, corpus %zu, features %zu\n",
                     t.name, static_cast<unsigned long long>(s.inputs), now, s.inputs / now, rss_mib(), corpus.size(),
                     features.size());
    }
  }
  s.seconds = elapsed();
  s.rss_end = rss_mib();
  if (!warm) {  // too short to have a warm-up
    s.rss_warm = s.rss_end;
    corpus_mib_warm = corpus_mib(corpus);
  }
  s.corpus = corpus.size();
  s.features = features.size();
  s.corpus_growth_mib = corpus_mib(corpus) - corpus_mib_warm;
  s.rss_flat = s.rss_end - s.rss_warm - s.corpus_growth_mib <= double(o.rss_growth_mb);
  return s;
}

void print_stats(const Stats& s, const Options& o) {
  std::printf(
      "[fuzz] %-16s %9llu inputs %7.1f s %8.0f exec/s | accepted %llu, seeds %zu, corpus %zu, features %zu | "
      "findings %llu (exception %llu, oracle %llu, alloc %llu) | RSS MiB start %.1f warm %.1f end %.1f (%+.1f after "
      "warm-up, %.1f of it corpus; bound %llu: %s) | init %.1f s\n",
      s.name.c_str(), static_cast<unsigned long long>(s.inputs), s.seconds, s.seconds > 0 ? s.inputs / s.seconds : 0.0,
      static_cast<unsigned long long>(s.accepted), s.seeds, s.corpus, s.features,
      static_cast<unsigned long long>(s.findings), static_cast<unsigned long long>(s.by_kind.count("exception") ? s.by_kind.at("exception") : 0),
      static_cast<unsigned long long>(s.by_kind.count("oracle") ? s.by_kind.at("oracle") : 0),
      static_cast<unsigned long long>(s.by_kind.count("alloc") ? s.by_kind.at("alloc") : 0), s.rss_start, s.rss_warm,
      s.rss_end, s.rss_end - s.rss_warm, s.corpus_growth_mib, static_cast<unsigned long long>(o.rss_growth_mb), s.rss_flat ? "flat" : "GROWS",
      s.init_seconds);
  std::fflush(stdout);
}

// ---- setup ---------------------------------------------------------------------------------

std::filesystem::path fixtures_dir(const Options& o) {
  if (!o.fixtures.empty()) return o.fixtures;
  const char* env = std::getenv("VISCPM_FIXTURES_DIR");
  return env && *env ? env : VISCPM_DEFAULT_FIXTURES_DIR;
}

std::filesystem::path make_scratch() {
  std::filesystem::path base = std::filesystem::is_directory("/dev/shm") && ::access("/dev/shm", W_OK) == 0
                                   ? std::filesystem::path("/dev/shm")
                                   : std::filesystem::temp_directory_path();
  auto dir = base / ("viscpm_fuzz_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

int replay(const Target& t, const Context& context, const Options& o) {
  set_verbose_outcomes(true);
  t.init(context);
  int status = 0;
  for (const auto& file : o.replay) {
    Bytes input = read_bytes(file);
    RunResult r = run_one(t, input, o);
    if (r.verdict == Verdict::kFinding) {
      std::printf("%s: FINDING (%s): %s\n", file.c_str(), r.kind, r.what.c_str());
      status = kExitFindings;
    } else {
      std::string steps = outcome();
      for (auto& c : steps)
        if (c == '|') c = '\n';
      std::printf("%s: no finding (%zu bytes); the steps said:\n%s", file.c_str(), input.size(), steps.c_str());
    }
  }
  return status;
}

int write_corpus(const Context& context, const Options& o) {
  for (const auto& t : targets()) {
    t.init(context);
    auto dir = std::filesystem::path(o.write_corpus) / t.name;
    std::filesystem::create_directories(dir);
    auto seeds = t.seeds(context);
    for (size_t i = 0; i < seeds.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "seed-%03zu", i);
      write_bytes(dir / name, reinterpret_cast<const uint8_t*>(seeds[i].data()), seeds[i].size());
    }
    std::printf("%s: %zu seeds in %s\n", t.name, seeds.size(), dir.c_str());
  }
  return 0;
}

int main_impl(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.list) {
    for (const auto& t : targets()) std::printf("%-16s %s\n", t.name, t.what);
    return 0;
  }
  std::vector<const Target*> chosen;
  if (o.target == "all") {
    for (const auto& t : targets()) chosen.push_back(&t);
  } else if (!o.target.empty()) {
    std::stringstream names(o.target);
    for (std::string name; std::getline(names, name, ',');) {
      const Target* t = find_target(name);
      if (!t) usage("unknown target '" + name + "' (see --list)");
      chosen.push_back(t);
    }
  }
  Context context;
  context.fixtures = fixtures_dir(o);
  context.source_dir = VISCPM_SOURCE_DIR;
  if (!std::filesystem::exists(context.fixtures / "manifest.json")) {
    std::printf("SKIPPED: golden fixtures not found at %s (no manifest.json there): the seed corpus is built from "
                "them. Pass --fixtures DIR or set VISCPM_FIXTURES_DIR.\n",
                context.fixtures.c_str());
    return kExitSkip;
  }
  // Large blocks always mapped and unmapped (no dynamic mmap threshold, heap trimmed): RSS
  // then follows live memory, so a leak shows and the allocator's retention does not.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 4 << 20);
  // One core: the long run shares the machine; LibTorch and OpenCV stay single-threaded.
  at::set_num_threads(1);
  at::set_num_interop_threads(1);
  g_scratch = context.scratch = make_scratch();
  std::strncpy(g_crash_dir, std::filesystem::absolute(o.crash_dir).c_str(), sizeof g_crash_dir - 1);
  struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(g_scratch, ec);
    }
  } cleanup;
  if (!o.write_corpus.empty()) return write_corpus(context, o);
  g_stderr = ::dup(2);
  if (!o.target_stderr && o.replay.empty()) g_devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  install_crash_handlers();
  start_watchdog(o.timeout_ms);
  if (!alloc_guard_active())
    std::printf("[fuzz] WARNING: the allocation cap is not active (malloc interposition did not take)\n");
  if (!o.replay.empty()) {
    if (chosen.size() != 1) usage("--replay needs one --target");
    return replay(*chosen[0], context, o);
  }

  std::printf("[fuzz] viscpm_fuzz: targets %s, seed %llu, %s%s per target, timeout %llu ms, max allocation %llu MiB, "
              "fixtures %s, findings to %s\n",
              o.target.c_str(), static_cast<unsigned long long>(o.seed),
              o.runs ? (std::to_string(o.runs) + " inputs").c_str() : "",
              o.seconds > 0 ? ((o.runs ? " or " : "") + std::to_string(o.seconds) + " s").c_str() : "",
              static_cast<unsigned long long>(o.timeout_ms), static_cast<unsigned long long>(o.max_alloc_mb),
              context.fixtures.c_str(), g_crash_dir);
  std::fflush(stdout);  // before the progress lines on stderr
  const double process_start = rss_mib();
  std::vector<Stats> all;
  for (const Target* t : chosen) {
    all.push_back(fuzz_target(*t, context, o));
    print_stats(all.back(), o);
  }
  uint64_t inputs = 0, findings = 0;
  double seconds = 0;
  bool flat = true;
  for (const auto& s : all) {
    inputs += s.inputs;
    findings += s.findings;
    seconds += s.seconds;
    flat = flat && s.rss_flat;
  }
  std::printf("[fuzz] TOTAL %llu inputs in %.1f s, %llu findings, 0 crashes, 0 hangs (the process would have ended), "
              "RSS MiB process start %.1f end %.1f peak %.1f, per-target RSS %s\n",
              static_cast<unsigned long long>(inputs), seconds, static_cast<unsigned long long>(findings),
              process_start, rss_mib(), peak_rss_mib(), flat ? "flat" : "GROWS");
  if (findings || !flat) {
    std::printf("[fuzz] FAILED: %s; inputs and messages in %s\n", findings ? "findings" : "RSS grows after warm-up",
                g_crash_dir);
    return kExitFindings;
  }
  return 0;
}

}  // namespace
}  // namespace viscpm::fuzz

int main(int argc, char** argv) {
  try {
    return viscpm::fuzz::main_impl(argc, argv);
  } catch (const viscpm::fuzz::HarnessError& e) {
    std::fprintf(stderr, "viscpm_fuzz: harness error: %s\n", e.what());
    return viscpm::fuzz::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "viscpm_fuzz: error while setting up: %s\n", e.what());
    return viscpm::fuzz::kExitUsage;
  }
}
