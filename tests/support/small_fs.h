// A small tmpfs the test mounts itself, to run a tier on a data directory that fills up or turns
// read-only. Needs root (CAP_SYS_ADMIN); ok() is false elsewhere and tests skip. The mount goes
// with the object (lazily when still busy), also when the test fails.
#pragma once

#include <cstdint>
#include <string>

namespace oak::testing {

class SmallFs {
 public:
  // Mounts a tmpfs of `size_mb` MiB on oak-test-<name>-<random>/disk under $TMPDIR. What is
  // written beside path() (a process's log and ready file) stays readable while the disk is full,
  // and goes with the directory on destruction.
  explicit SmallFs(const std::string& name, int size_mb = 8);
  ~SmallFs();
  SmallFs(const SmallFs&) = delete;
  SmallFs& operator=(const SmallFs&) = delete;

  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& leaf) const { return path_ + "/" + leaf; }

  // Writes a filler file until the file system answers ENOSPC; answers the bytes it took.
  int64_t Fill();
  // Removes the filler: the space is back.
  void Unfill();
  // Remounts read-only or read-write; false (see error()) when the kernel refuses, e.g. EBUSY
  // while some process holds a file on it open for writing.
  bool RemountReadOnly();
  bool RemountReadWrite();
  int64_t FreeBytes() const;

 private:
  bool Remount(bool read_only);

  std::string dir_, path_, error_, options_;
  bool mounted_ = false;
};

// An ext4 file system in an image file on a loop device, mounted with errors=remount-ro. Needs
// root, losetup and mkfs.ext4; ok() is false elsewhere. Tears down like SmallFs.
class Ext4Fs {
 public:
  explicit Ext4Fs(const std::string& name, int size_mb = 32);
  ~Ext4Fs();
  Ext4Fs(const Ext4Fs&) = delete;
  Ext4Fs& operator=(const Ext4Fs&) = delete;

  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& leaf) const { return path_ + "/" + leaf; }

  // Makes the kernel take the file system for damaged (ext4's trigger_fs_error): it turns
  // read-only at once, under every open file too, and stays so until unmounted. This is how a
  // data directory goes read-only under a running process: a plain `mount -o remount,ro` is
  // refused (EBUSY) while a process holds a file open for writing, as every tier does.
  bool TriggerError();

 private:
  std::string path_, image_, device_, error_;
  bool mounted_ = false;
};

}  // namespace oak::testing
