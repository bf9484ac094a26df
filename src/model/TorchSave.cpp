#include "model/TorchSave.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/serialize.h>

#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <algorithm>
#include <cstring>
#include <fstream>

namespace tsn {

std::vector<char> torchSave(const c10::IValue& value) {
  // What torch::pickle_save does, with tag_aggregates off.
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* bytes, size_t size) { pickled.insert(pickled.end(), bytes, bytes + size); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    archive.insert(archive.end(), bytes, bytes + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  return archive;
}

void torchSave(const c10::IValue& value, const std::filesystem::path& file) {
  const auto bytes = torchSave(value);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw Error(fmt::format("{}: cannot write", file.string()));
}

namespace {

/// Throws TorchSaveError if an opcode of the pickle announces more bytes than follow it, or a
/// frame or memo index larger than the pickle (a pickle of n bytes holds fewer than n memo
/// entries). LibTorch's unpickler allocates what those fields say before it finds the data
/// missing: damaged checkpoints made it zero-fill 4 GiB (a string's length) and ask for 24 GiB
/// (a memo index: it grows its memo table to the index); both found by fuzz_checkpoint.
/// Opcodes it would refuse anyway end the walk; the unpickler reports those.
void checkPickleLengths(const char* data, size_t size) {
  size_t at = 0;
  const auto remaining = [&] { return size - at; };
  const auto little = [&](int bytes) {
    if (remaining() < static_cast<size_t>(bytes)) throw TorchSaveError(true, "pickle truncated");
    uint64_t v = 0;
    for (int k = bytes - 1; k >= 0; --k) v = v << 8 | static_cast<uint8_t>(data[at + k]);
    at += bytes;
    return v;
  };
  const auto skipLine = [&] {
    const void* end = std::memchr(data + at, '\n', remaining());
    if (end == nullptr) throw TorchSaveError(true, "pickle truncated");
    at = static_cast<size_t>(static_cast<const char*>(end) - data) + 1;
  };
  while (at < size) {
    const auto op = static_cast<uint8_t>(data[at++]);
    uint64_t length = 0;  // of the data following a length field
    switch (op) {
      case '.':  // STOP
        return;
      case 'K':
      case 'h':
      case 'q':
      case 0x80:
      case 0x82:  // one-byte argument
        little(1);
        break;
      case 'M':
      case 0x83:
        little(2);
        break;
      case 'j':
      case 'r': {  // LONG_BINGET, LONG_BINPUT: the unpickler sizes its memo by the index
        const uint64_t index = little(4);
        if (index > size) {
          throw TorchSaveError(true, fmt::format("damaged pickle: memo index {} at offset {} in "
                                                 "a pickle of {} bytes",
                                                 index, at, size));
        }
        break;
      }
      case 'J':
      case 0x84:
        little(4);
        break;
      case 'G':  // BINFLOAT
        little(8);
        break;
      case 0x95: {  // FRAME: the opcodes that follow, which the unpickler buffers first
        const uint64_t frame = little(8);
        if (frame > remaining()) {
          throw TorchSaveError(true, fmt::format("damaged pickle: a frame of {} bytes at offset "
                                                 "{}, {} left",
                                                 frame, at, remaining()));
        }
        break;
      }
      case 'U':
      case 'C':
      case 0x8c:
      case 0x8a:  // strings, bytes, LONG1 with 1-byte length
        length = little(1);
        break;
      case 'T':
      case 'X':
      case 'B':
      case 0x8b:  // ... with a 4-byte length
        length = little(4);
        break;
      case 0x8d:
      case 0x8e:
      case 0x96:  // ... with an 8-byte length
        length = little(8);
        break;
      case 'F':
      case 'I':
      case 'L':
      case 'P':
      case 'S':
      case 'V':
      case 'g':
      case 'p':
        skipLine();
        break;
      case 'c':
      case 'i':  // module and name lines
        skipLine();
        skipLine();
        break;
      case '(':
      case '0':
      case '1':
      case '2':
      case 'N':
      case 'Q':
      case 'R':
      case 'a':
      case 'b':
      case 'd':
      case '}':
      case 'e':
      case 'l':
      case ']':
      case 'o':
      case 's':
      case 't':
      case ')':
      case 'u':
      case 0x81:
      case 0x85:
      case 0x86:
      case 0x87:
      case 0x88:
      case 0x89:
      case 0x8f:
      case 0x90:
      case 0x91:
      case 0x92:
      case 0x93:
      case 0x94:
      case 0x97:
      case 0x98:
        break;
      default:
        return;  // not an opcode: the unpickler says so
    }
    if (length > remaining()) {
      throw TorchSaveError(true, fmt::format("damaged pickle: {} bytes announced at offset {}, "
                                             "{} left",
                                             length, at, remaining()));
    }
    at += length;
  }
}

/// The archive's bytes, read in place by PyTorchStreamReader.
class BytesAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesAdapter(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::vector<char>& bytes_;
};

}  // namespace

c10::IValue torchLoad(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw TorchSaveError(false, "cannot open");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  try {
    {
      caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BytesAdapter>(bytes));
      const auto [pickle, size] = reader.getRecord("data.pkl");
      checkPickleLengths(static_cast<const char*>(pickle.get()), size);
    }
    return torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw TorchSaveError(true, what.substr(0, what.find('\n')));
  }
}

}  // namespace tsn
