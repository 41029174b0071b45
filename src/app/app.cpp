#include "vslide/app/app.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QApplication>
#include <QTimer>
#include <cstdlib>
#include <cstring>

#include "vslide/app/viewer_canvas.h"

namespace vslide::app {

int run_viewer(int argc, char** argv, const ViewerArgs& args) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("vslide");
  MainWindow window(args.window);
  window.resize(args.width, args.height);
  window.show();
  if (!args.slide.empty()) {
    ViewerModel* model = window.model();
    if (!args.display_file.empty()) {
      const std::string file = args.display_file;
      QObject::connect(model, &ViewerModel::slideOpened, &window, [model, file] {
        auto s = view::load_view_state(file);
        if (s.ok()) {
          model->set_state(std::move(*s));
        } else {
          emit model->message(QString::fromStdString(s.status().to_string()), 8000);
        }
      }, Qt::SingleShotConnection);
    }
    model->open(QString::fromStdString(args.slide));
  }
  return app.exec();
}

Result<std::unique_ptr<XvfbServer>> XvfbServer::start(int width, int height) {
  int fds[2];
  if (pipe(fds) != 0) return Status::unavailable("Xvfb: pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return Status::unavailable("Xvfb: fork failed");
  if (pid == 0) {
    close(fds[0]);
    const std::string fd = std::to_string(fds[1]);
    const std::string screen = std::to_string(width) + "x" + std::to_string(height) + "x24";
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    execlp("Xvfb", "Xvfb", "-displayfd", fd.c_str(), "-screen", "0", screen.c_str(), "-nolisten", "tcp", "-noreset",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string number;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') number += c;
  close(fds[0]);
  if (number.empty()) {
    int st = 0;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    return Status::unavailable("Xvfb did not start (install the Debian package xvfb)");
  }
  std::unique_ptr<XvfbServer> x(new XvfbServer());
  x->pid_ = pid;
  x->display_ = ":" + number;
  return x;
}

XvfbServer::~XvfbServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
}

}  // namespace vslide::app
