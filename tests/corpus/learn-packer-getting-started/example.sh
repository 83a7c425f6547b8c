#!/bin/bash
echo "hello"