// fast_ops.h: exact fast invokes for some int8 ops (see fast_ops.cc).
#ifndef TFDISTIL_FAST_OPS_H_
#define TFDISTIL_FAST_OPS_H_
#include "tensorflow/lite/micro/micro_common.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace tfdistil_fast {
// The registration to use for `op`: `r` itself, or a copy of it with a faster invoke that
// computes the same integers (init and prepare unchanged). Call it once per op, from FindOp().
const TFLMRegistration* Substitute(tflite::BuiltinOperator op, const TFLMRegistration* r);
}  // namespace tfdistil_fast
#endif
