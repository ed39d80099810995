#include "io/state_dict_pickle.h"

#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>

#include "common/error.h"
#include "io/dtypes.h"
#include "io/text.h"

namespace viscpm::io {

namespace {

// Pickle values are kept in an arena and referenced by pointer: cycles a hostile pickle
// could build (a list appended to itself) cost nothing, and destruction is flat.
struct Value {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  int64_t integer = 0;  // kBool, kInt; kTensor: index into the tensor list
  double real = 0;
  std::string text;     // kString/kBytes; kGlobal: "module.name"; kStorage: key
  std::vector<Value*> items;                       // kTuple, kList
  std::vector<std::pair<Value*, Value*>> entries;  // kDict
  std::unordered_map<std::string, size_t> string_keys;  // kDict: position of each string key
  bool ordered = false;                            // kDict: made by collections.OrderedDict
  at::ScalarType dtype = at::kFloat;               // kStorage
  int64_t numel = 0;                               // kStorage
};

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kBytes: return "bytes";
    case Value::Kind::kTuple: return "tuple";
    case Value::Kind::kList: return "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kGlobal: return "global";
    case Value::Kind::kStorage: return "storage";
    case Value::Kind::kTensor: return "tensor";
  }
  return "?";
}

constexpr size_t kMaxRank = 64;

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, std::string where) : data_(data), size_(size), where_(std::move(where)) {}

  PickledStateDict run() {
    Value* top = parse();
    if (top->kind != Value::Kind::kDict)
      fail("the pickled object is a " + std::string(kind_name(top->kind)) + ", not a state dict (mapping of names to tensors)");
    PickledStateDict out;
    out.container_type = top->ordered ? "OrderedDict" : "dict";
    out.tensors.reserve(top->entries.size());
    for (const auto& [key, value] : top->entries) {
      if (key->kind != Value::Kind::kString)
        fail("state dict key of type " + std::string(kind_name(key->kind)) + " (expected str)");
      if (value->kind != Value::Kind::kTensor)
        fail("state dict entry '" + key->text + "' is a " + kind_name(value->kind) + ", not a tensor");
      PickledTensor t = tensors_[static_cast<size_t>(value->integer)];
      t.name = key->text;
      out.tensors.push_back(std::move(t));
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(where_ + ": " + printable(what) + " (data.pkl byte " + std::to_string(op_pos_) + ")");
  }

  // --- input -------------------------------------------------------------------------
  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) fail("pickle truncated");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
    return v;
  }
  std::string take_string(uint64_t n) {
    if (n > size_ - pos_) fail("string of " + std::to_string(n) + " bytes runs past the end of the pickle");
    const uint8_t* p = take(static_cast<size_t>(n));
    return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }
  std::string take_line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) fail("unterminated GLOBAL name");
    size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    std::string s = take_string(n);
    pos_ += 1;
    return s;
  }

  // --- values and stack --------------------------------------------------------------
  Value* make(Value::Kind kind) {
    arena_.emplace_back();
    arena_.back().kind = kind;
    return &arena_.back();
  }
  void push(Value* v) { stack_.push_back(v); }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Value* pop() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value* top() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Value*> pop_to_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Value* tuple(std::vector<Value*> items) {
    Value* v = make(Value::Kind::kTuple);
    v->items = std::move(items);
    return v;
  }
  Value* integer(int64_t i) {
    Value* v = make(Value::Kind::kInt);
    v->integer = i;
    return v;
  }
  void set_item(Value* dict, Value* key, Value* value) {
    if (dict->kind != Value::Kind::kDict) fail("SETITEM on a " + std::string(kind_name(dict->kind)));
    if (key->kind == Value::Kind::kString) {
      auto [it, inserted] = dict->string_keys.emplace(key->text, dict->entries.size());
      if (!inserted) {  // Python keeps the first position and the last value
        dict->entries[it->second].second = value;
        return;
      }
    }
    dict->entries.emplace_back(key, value);
  }
  void append(Value* list, Value* item) {
    if (list->kind != Value::Kind::kList) fail("APPEND on a " + std::string(kind_name(list->kind)));
    list->items.push_back(item);
  }
  void memo_put(uint64_t index, Value* v) { memo_[index] = v; }
  Value* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " used before it was stored");
    return it->second;
  }

  // --- the allowed globals -----------------------------------------------------------
  Value* global(const std::string& module, const std::string& name) {
    std::string full = module + "." + name;
    bool allowed = full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
                   full == "torch._utils._rebuild_parameter" ||
                   full == "torch._utils._rebuild_parameter_with_state" ||
                   (module == "torch" && dtype_from_torch_storage(name).has_value());
    if (!allowed)
      fail("the pickle refers to '" + full +
           "', which a state dict of tensors never needs; refusing the file (pickles are parsed, never executed)");
    Value* v = make(Value::Kind::kGlobal);
    v->text = full;
    return v;
  }

  int64_t as_int(Value* v, const char* what) {
    if (v->kind != Value::Kind::kInt) fail(std::string(what) + " is a " + kind_name(v->kind) + ", expected int");
    return v->integer;
  }
  std::vector<int64_t> as_int_tuple(Value* v, const char* what) {
    if (v->kind != Value::Kind::kTuple) fail(std::string(what) + " is a " + kind_name(v->kind) + ", expected a tuple");
    if (v->items.size() > kMaxRank) fail(std::string(what) + " has " + std::to_string(v->items.size()) + " dimensions");
    std::vector<int64_t> out;
    for (Value* item : v->items) {
      int64_t i = as_int(item, what);
      if (i < 0) fail(std::string(what) + " holds a negative value " + std::to_string(i));
      out.push_back(i);
    }
    return out;
  }

  Value* persistent_load(Value* pid) {
    if (pid->kind != Value::Kind::kTuple || pid->items.size() != 5 || pid->items[0]->kind != Value::Kind::kString ||
        pid->items[0]->text != "storage")
      fail("unexpected persistent id (expected ('storage', type, key, location, numel))");
    Value* type = pid->items[1];
    std::optional<at::ScalarType> dtype;
    if (type->kind == Value::Kind::kGlobal && type->text.rfind("torch.", 0) == 0)
      dtype = dtype_from_torch_storage(type->text.substr(6));
    if (!dtype) fail("persistent id names no torch storage class");
    if (pid->items[2]->kind != Value::Kind::kString) fail("storage key is not a string");
    if (pid->items[3]->kind != Value::Kind::kString) fail("storage location is not a string");
    int64_t numel = as_int(pid->items[4], "storage size");
    if (numel < 0) fail("negative storage size");
    Value* v = make(Value::Kind::kStorage);
    v->text = pid->items[2]->text;
    v->dtype = *dtype;
    v->numel = numel;
    return v;
  }

  Value* reduce(Value* callable, Value* args) {
    if (callable->kind != Value::Kind::kGlobal) fail("REDUCE on a " + std::string(kind_name(callable->kind)));
    if (args->kind != Value::Kind::kTuple) fail("REDUCE arguments are not a tuple");
    const auto& a = args->items;
    const std::string& f = callable->text;
    if (f == "collections.OrderedDict") {
      if (!a.empty()) fail("OrderedDict called with arguments");
      Value* d = make(Value::Kind::kDict);
      d->ordered = true;
      return d;
    }
    if (f == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != Value::Kind::kStorage) fail("_rebuild_tensor_v2 called without a storage");
      PickledTensor t;
      t.dtype = a[0]->dtype;
      t.storage_key = a[0]->text;
      t.storage_numel = a[0]->numel;
      t.storage_offset = as_int(a[1], "storage offset");
      if (t.storage_offset < 0) fail("negative storage offset");
      t.shape = as_int_tuple(a[2], "tensor size");
      t.strides = as_int_tuple(a[3], "tensor stride");
      if (t.shape.size() != t.strides.size())
        fail("tensor size has " + std::to_string(t.shape.size()) + " dimensions but stride " +
             std::to_string(t.strides.size()));
      if (a[4]->kind != Value::Kind::kBool) fail("requires_grad is not a bool");
      Value* v = make(Value::Kind::kTensor);
      v->integer = static_cast<int64_t>(tensors_.size());
      tensors_.push_back(std::move(t));
      return v;
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor here.
      if (a.size() != (f == "torch._utils._rebuild_parameter" ? 3u : 4u)) fail(f + " with a wrong argument count");
      if (a[0]->kind != Value::Kind::kTensor) fail(f + " called without a tensor");
      return a[0];
    }
    fail("'" + f + "' cannot be called here");
  }

  // --- the opcode loop ---------------------------------------------------------------
  Value* parse() {
    while (true) {
      op_pos_ = pos_;
      uint8_t op = *take(1);
      switch (op) {
        case 0x80: {  // PROTO
          uint8_t proto = *take(1);
          if (proto < 2 || proto > 5) fail("pickle protocol " + std::to_string(proto) + " is not supported");
          break;
        }
        case 0x95: take(8); break;  // FRAME: a hint only
        case '.': {                 // STOP
          Value* result = pop();
          if (!marks_.empty() || !stack_.empty()) fail("pickle ends with values left on the stack");
          return result;
        }
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                               // POP
        case '1': pop_to_mark(); break;                       // POP_MARK
        case '2': push(top()); break;                         // DUP
        case 'N': push(make(Value::Kind::kNone)); break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          Value* v = make(Value::Kind::kBool);
          v->integer = op == 0x88;
          push(v);
          break;
        }
        case 'J': push(integer(static_cast<int32_t>(le(4)))); break;  // BININT
        case 'K': push(integer(static_cast<int64_t>(le(1)))); break;  // BININT1
        case 'M': push(integer(static_cast<int64_t>(le(2)))); break;  // BININT2
        case 0x8a:                                                    // LONG1
        case 0x8b: {                                                  // LONG4
          uint64_t n = op == 0x8a ? le(1) : le(4);
          if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit in 64 bits");
          uint64_t raw = n ? le(static_cast<size_t>(n)) : 0;
          if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t(0) << (8 * n);  // sign-extend
          push(integer(static_cast<int64_t>(raw)));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          const uint8_t* p = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
          Value* v = make(Value::Kind::kFloat);
          std::memcpy(&v->real, &bits, 8);
          push(v);
          break;
        }
        case 'X':     // BINUNICODE
        case 0x8c:    // SHORT_BINUNICODE
        case 0x8d:    // BINUNICODE8
        case 'T':     // BINSTRING
        case 'U':     // SHORT_BINSTRING
        case 'B':     // BINBYTES
        case 'C':     // SHORT_BINBYTES
        case 0x8e: {  // BINBYTES8
          size_t width = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
          uint64_t n = le(width);
          if (op == 'T' && n > 0x7FFFFFFF) fail("negative BINSTRING length");
          Value* v = make(op == 'B' || op == 'C' || op == 0x8e ? Value::Kind::kBytes : Value::Kind::kString);
          v->text = take_string(n);
          if (v->kind == Value::Kind::kString && !is_valid_utf8(v->text)) fail("string is not valid UTF-8");
          push(v);
          break;
        }
        case ')': push(tuple({})); break;  // EMPTY_TUPLE
        case 't': push(tuple(pop_to_mark())); break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          size_t n = static_cast<size_t>(op - 0x84);
          std::vector<Value*> items(n);
          for (size_t i = n; i-- > 0;) items[i] = pop();
          push(tuple(std::move(items)));
          break;
        }
        case ']': push(make(Value::Kind::kList)); break;  // EMPTY_LIST
        case 'l': {                                      // LIST
          Value* v = make(Value::Kind::kList);
          v->items = pop_to_mark();
          push(v);
          break;
        }
        case 'a': {  // APPEND
          Value* item = pop();
          append(top(), item);
          break;
        }
        case 'e': {  // APPENDS
          auto items = pop_to_mark();
          Value* list = top();
          for (Value* item : items) append(list, item);
          break;
        }
        case '}': push(make(Value::Kind::kDict)); break;  // EMPTY_DICT
        case 'd': {                                      // DICT
          auto items = pop_to_mark();
          if (items.size() % 2) fail("DICT with an odd number of items");
          Value* d = make(Value::Kind::kDict);
          for (size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
          push(d);
          break;
        }
        case 's': {  // SETITEM
          Value* value = pop();
          Value* key = pop();
          set_item(top(), key, value);
          break;
        }
        case 'u': {  // SETITEMS
          auto items = pop_to_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          Value* d = top();
          for (size_t i = 0; i < items.size(); i += 2) set_item(d, items[i], items[i + 1]);
          break;
        }
        case 'c': {  // GLOBAL
          std::string module = take_line();
          std::string name = take_line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Value* name = pop();
          Value* module = pop();
          if (name->kind != Value::Kind::kString || module->kind != Value::Kind::kString)
            fail("STACK_GLOBAL without strings");
          push(global(module->text, name->text));
          break;
        }
        case 'q': memo_put(le(1), top()); break;  // BINPUT
        case 'r': memo_put(le(4), top()); break;  // LONG_BINPUT
        case 0x94: memo_put(memo_.size(), top()); break;  // MEMOIZE
        case 'h': push(memo_get(le(1))); break;  // BINGET
        case 'j': push(memo_get(le(4))); break;  // LONG_BINGET
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                      // REDUCE
          Value* args = pop();
          Value* callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 'b': {  // BUILD: only the state-dict _metadata attribute of a dict occurs
          pop();
          Value* target = top();
          if (target->kind != Value::Kind::kDict) fail("BUILD on a " + std::string(kind_name(target->kind)));
          break;
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(std::string("pickle opcode ") + hex + " is not used by torch.save state dicts");
        }
      }
    }
  }

  const uint8_t* data_;
  size_t size_;
  std::string where_;
  size_t pos_ = 0, op_pos_ = 0;
  std::deque<Value> arena_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
  std::vector<PickledTensor> tensors_;
};

// --- writer ------------------------------------------------------------------------------

struct PickleWriter {
  std::string out;
  void op(char c) { out.push_back(c); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xFF));
  }
  void str(const std::string& s) {
    op('X');
    u32(static_cast<uint32_t>(s.size()));
    out += s;
  }
  void global(const std::string& module, const std::string& name) {
    op('c');
    out += module + "\n" + name + "\n";
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      out.push_back(char(v));
    } else if (v >= 0 && v < 65536) {
      op('M');
      out.push_back(char(v & 0xFF));
      out.push_back(char(v >> 8));
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      u32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {  // LONG1, 8 bytes two's complement (always fits)
      op('\x8a');
      out.push_back(8);
      for (int i = 0; i < 8; ++i) out.push_back(char((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
    }
  }
  void int_tuple(const std::vector<int64_t>& values) {
    if (values.empty()) return op(')');
    if (values.size() > 3) op('(');
    for (int64_t v : values) integer(v);
    op(values.size() > 3 ? 't' : char(0x84 + values.size()));
  }
};

}  // namespace

PickledStateDict parse_state_dict_pickle(const uint8_t* data, size_t size, const std::string& where) {
  return Unpickler(data, size, where).run();
}

std::string write_state_dict_pickle(const std::vector<std::string>& names,
                                    const std::vector<at::ScalarType>& dtypes,
                                    const std::vector<std::vector<int64_t>>& shapes) {
  PickleWriter w;
  w.out = "\x80\x02";
  w.global("collections", "OrderedDict");
  w.op(')');
  w.op('R');
  if (!names.empty()) w.op('(');
  for (size_t i = 0; i < names.size(); ++i) {
    auto storage = torch_storage_name(dtypes[i]);
    if (!storage) throw InvalidArgument("torch.save archives cannot hold " + python_dtype_name(dtypes[i]) + " tensors ('" + names[i] + "')");
    // torch's contiguous strides treat zero-sized dimensions as 1.
    int64_t numel = 1, stride = 1;
    std::vector<int64_t> strides(shapes[i].size());
    for (size_t d = shapes[i].size(); d-- > 0;) {
      strides[d] = stride;
      stride *= std::max<int64_t>(shapes[i][d], 1);
      numel *= shapes[i][d];
    }
    w.str(names[i]);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op('(');
    w.op('(');
    w.str("storage");
    w.global("torch", *storage);
    w.str(std::to_string(i));
    w.str("cpu");
    w.integer(numel);
    w.op('t');
    w.op('Q');
    w.integer(0);
    w.int_tuple(shapes[i]);
    w.int_tuple(strides);
    w.op('\x89');
    w.global("collections", "OrderedDict");
    w.op(')');
    w.op('R');
    w.op('t');
    w.op('R');
  }
  if (!names.empty()) w.op('u');
  w.op('.');
  return w.out;
}

}  // namespace viscpm::io
