#include <cstdint>
#include <cmath>
int main() { return static_cast<int>(std::uint8_t{0}); }
