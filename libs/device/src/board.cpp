#include "ironroot/device/board.hpp"

namespace ironroot::device {

Result<Board> Board::assemble(boot::BootLayout layout, std::shared_ptr<flash::NorFlash> flash,
                              boot::Otp otp) {
  if (flash->geometry().sectors != layout.geometry.sectors) {
    return fail("the flash's sector map is not the one layout " + layout.name + " needs");
  }
  Board board(std::move(layout), std::move(flash), std::move(otp));
  struct Cut {
    const char* name;
    const boot::Partition& partition;
    std::unique_ptr<flash::FlashArea>& area;
  };
  const boot::BootLayout& l = board.layout_;
  for (const Cut& cut :
       {Cut{"bootloader", l.bootloader, board.bootloader_},
        Cut{"primary", l.primary, board.primary_}, Cut{"secondary", l.secondary, board.secondary_},
        Cut{"scratch", l.scratch, board.scratch_}, Cut{"status", l.status, board.status_}}) {
    auto area = board.flash_->area(cut.partition.offset, cut.partition.size);
    if (!area) return prefixed(area.error(), std::string("the ") + cut.name + " partition");
    cut.area = std::move(*area);
  }
  return board;
}

Result<Board> Board::in_memory(const DeviceConfig& config) {
  auto layout = config.boot_layout();
  if (!layout) return tl::unexpected(layout.error());
  auto flash = flash::NorFlash::in_memory(layout->geometry);
  if (!flash) return tl::unexpected(flash.error());
  return assemble(std::move(*layout), std::move(*flash), boot::Otp::in_memory());
}

}  // namespace ironroot::device
