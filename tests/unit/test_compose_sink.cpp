// Sinks: the ring keeps the last N and counts every overwritten finding; counting and reference
// sinks.
#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <random>

#include <physguard/compose/host_sinks.hpp>
#include <physguard/compose/sink.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {
template <typename T>
Finding<T> finding(std::int64_t n) {
  Finding<T> f;
  f.time = Timestamp::from_us(n);
  f.score = static_cast<T>(n % 1000);
  f.kind = static_cast<FindingKind>(n % 8);
  f.state = static_cast<AlarmState>(n % 4);
  return f;
}
}  // namespace

TEST_CASE_TEMPLATE("FindingRing keeps the last N, counts overwritten ones, against a deque", T,
                   float, double) {
  FindingRing<T, 5> ring;
  std::deque<std::int64_t> ref;
  std::uint32_t lost = 0;
  std::mt19937 rng(1);
  std::int64_t next = 0;
  for (int step = 0; step < 5000; ++step) {
    if (rng() % 3 != 0) {
      ring(finding<T>(next));
      ref.push_back(next);
      if (ref.size() > 5) {
        ref.pop_front();
        ++lost;
      }
      ++next;
    } else {
      Finding<T> f;
      const bool got = ring.pop(f);
      CHECK(got == !ref.empty());
      if (got) {
        CHECK(f.time.us == ref.front());
        ref.pop_front();
      }
    }
    REQUIRE(ring.size() == ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) CHECK(ring[i].time.us == ref[i]);
  }
  CHECK(ring.overwritten() == lost);
  CHECK(lost > 0);
  CHECK(ring.total() == static_cast<std::uint32_t>(next));
  CHECK(ring.capacity() == 5);
}

TEST_CASE_TEMPLATE("FindingRing overwrites oldest first: 12 findings into 4 slots", T, float,
                   double) {
  FindingRing<T, 4> ring;
  physguard_test::HeapCounter heap;
  for (int i = 0; i < 12; ++i) ring(finding<T>(i));
  CHECK(heap.count() == 0);
  CHECK(ring.overwritten() == 8);
  REQUIRE(ring.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(ring[static_cast<std::size_t>(i)].time.us == 8 + i);
  ring.clear();
  CHECK(ring.empty());
  CHECK(ring.overwritten() == 8);
}

TEST_CASE_TEMPLATE("CountingSink counts by kind and state; SinkRef forwards; VectorSink keeps", T,
                   float, double) {
  CountingSink counter;
  VectorSink<T> vec;
  auto ref = sink_ref(counter);
  for (int i = 0; i < 80; ++i) {
    ref(finding<T>(i));
    vec(finding<T>(i));
  }
  CHECK(counter.count() == 80);
  CHECK(counter.count(FindingKind::bad_input) == 10);
  CHECK(counter.count(FindingKind::communication) == 10);
  CHECK(counter.count(AlarmState::alarm) == 20);
  CHECK(vec.size() == 80);
  CHECK(vec.findings[79].time.us == 79);
  // CountingSink accepts both scalar types.
  counter(Finding<float>{});
  counter(Finding<double>{});
  CHECK(counter.count() == 82);
}
