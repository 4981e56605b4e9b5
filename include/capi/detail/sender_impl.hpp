// Template bodies of capi::Sender (placeholder).
#pragma once
