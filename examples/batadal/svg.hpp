// examples/batadal/svg.hpp - a tiny SVG writer: binary lanes (labels, detections, parts,
// components) over the rows of a recording.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace batadal {

struct Lane {
  std::string name;
  std::vector<std::uint8_t> on;  ///< one flag per row
  const char* colour;
};

/// Writes the lanes as horizontal bars (one pixel column per `rows / width` rows), with day ticks
/// every `tick_rows` rows labelled by `tick_label(row)`.
template <typename TickLabel>
bool write_lanes_svg(const std::string& path, const std::string& title, const std::vector<Lane>& lanes,
                     std::size_t rows, std::size_t tick_rows, TickLabel tick_label) {
  std::ofstream out(path);
  if (!out) return false;
  const double left = 150, right = 20, top = 40, lane_h = 16, gap = 4, width = 1400;
  const double plot_w = width - left - right;
  const double height = top + static_cast<double>(lanes.size()) * (lane_h + gap) + 40;
  const double px_per_row = plot_w / static_cast<double>(rows > 0 ? rows : 1);
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left << "\" y=\"20\" font-size=\"14\">" << title << "</text>\n";
  for (std::size_t l = 0; l < lanes.size(); ++l) {
    const double y = top + static_cast<double>(l) * (lane_h + gap);
    out << "<text x=\"" << left - 6 << "\" y=\"" << y + lane_h - 4 << "\" text-anchor=\"end\">"
        << lanes[l].name << "</text>\n"
        << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << plot_w << "\" height=\""
        << lane_h << "\" fill=\"#f2f2f2\"/>\n";
    // runs of set rows become one rectangle each
    const std::vector<std::uint8_t>& on = lanes[l].on;
    for (std::size_t i = 0; i < on.size();) {
      if (!on[i]) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < on.size() && on[j]) ++j;
      const double w = static_cast<double>(j - i) * px_per_row;
      out << "<rect x=\"" << left + static_cast<double>(i) * px_per_row << "\" y=\"" << y
          << "\" width=\"" << (w < 0.6 ? 0.6 : w) << "\" height=\"" << lane_h << "\" fill=\""
          << lanes[l].colour << "\"/>\n";
      i = j;
    }
  }
  const double axis_y = top + static_cast<double>(lanes.size()) * (lane_h + gap) + 4;
  for (std::size_t r = 0; r < rows; r += tick_rows) {
    const double x = left + static_cast<double>(r) * px_per_row;
    out << "<line x1=\"" << x << "\" y1=\"" << top - 4 << "\" x2=\"" << x << "\" y2=\"" << axis_y
        << "\" stroke=\"#bbb\" stroke-width=\"0.5\"/>\n"
        << "<text x=\"" << x << "\" y=\"" << axis_y + 14 << "\" text-anchor=\"middle\">"
        << tick_label(r) << "</text>\n";
  }
  out << "</svg>\n";
  return static_cast<bool>(out);
}

}  // namespace batadal
