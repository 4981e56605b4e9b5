// Template bodies of capi::Client (placeholder until the client lands).
#pragma once
