// Bells (bell.cc): socket pairs whose bytes wake an event loop, read in C++.
#pragma once
#include <v8.h>

void BellPair(const v8::FunctionCallbackInfo<v8::Value>& a);
void BellWatch(const v8::FunctionCallbackInfo<v8::Value>& a);
void BellClose(const v8::FunctionCallbackInfo<v8::Value>& a);
void BellRing(const v8::FunctionCallbackInfo<v8::Value>& a);
void BellSendEnd(const v8::FunctionCallbackInfo<v8::Value>& a);
void BellSend(const v8::FunctionCallbackInfo<v8::Value>& a);
void BellSendClose(const v8::FunctionCallbackInfo<v8::Value>& a);
