#include "haven/app/main.hpp"

int main(int argc, char** argv) { return haven::app::run(argc, argv, HAVEN_VERSION); }
