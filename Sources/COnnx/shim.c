#include "COnnx.h"
